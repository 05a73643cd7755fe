package dev.tokentap.proxy.publish;

import dev.tokentap.benchmarks.SampleEvents;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventSerde;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The per-event work of publishing through the spool, without the file I/O and the producer's own send: what the
 * spool's writer does to an event before its write ({@code *Write}: encode, frame with length and CRC-32C), and what
 * the sender does to a record it read before the producer has the bytes to batch ({@code *Send}: check the CRC,
 * make the producer record, and the producer's serializer calls).
 *
 * <p>{@code previous*} is the spool as it was before records carried the Kafka record: the event's JSON spooled,
 * read into a buffer of its own, decoded to an event, and serialised again with its CloudEvents headers by the
 * usage event serde. {@code current*} is the spool's record format: the record encoded once by the writer and
 * handed on as bytes. The event is a streamed chat request with every field a proxy usually fills in. Scores are
 * per event.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class PublishPathBenchmark {

    private final UsageEventCodec codec = new UsageEventCodec();
    private final SpoolRecordFormat writerFormat = new SpoolRecordFormat(codec);
    private final SpoolRecordFormat senderFormat = new SpoolRecordFormat(codec);
    private final Serializer<String> stringSerializer = new StringSerializer();
    private final Serializer<UsageEvent> eventSerializer = new UsageEventSerde.UsageEventSerializer();
    private final Serializer<byte[]> bytesSerializer = new ByteArraySerializer();
    private final ByteBuffer frame = ByteBuffer.allocate(64 * 1024);
    private final CRC32C crc = new CRC32C();
    private UsageEvent event;
    /** Events a few milliseconds apart, as a proxy's are, made beforehand. */
    private final UsageEvent[] events = new UsageEvent[256];
    private int next;
    private byte[] previousRecord;
    private byte[] currentRecord;

    @Setup
    public void event() {
        long started = 1_763_800_000_123L;
        event = SampleEvents.streamedChat(started, "019a9c41-7d2e-7b3a-9c4d-5e6f7a8b9c0d");
        previousRecord = codec.encode(event);
        currentRecord = writerFormat.encode(event);
        for (int i = 0; i < events.length; i++) {
            events[i] = event.toBuilder().endedAt(started + 5_312 + 7L * i).build();
        }
    }

    private UsageEvent nextEvent() {
        next = (next + 1) & (events.length - 1);
        return events[next];
    }

    @Benchmark
    public int previousWrite() {
        return framed(codec.encode(nextEvent()));
    }

    @Benchmark
    public int currentWrite() {
        return framed(writerFormat.encode(nextEvent()));
    }

    @Benchmark
    public void previousSend(Blackhole sink) {
        // the previous reader: a buffer and a checksum of its own for each record
        ByteBuffer body = ByteBuffer.allocate(previousRecord.length);
        body.put(previousRecord);
        CRC32C check = new CRC32C();
        check.update(body.array());
        sink.consume(check.getValue());
        UsageEvent decoded = codec.decode(body.array());
        ProducerRecord<String, UsageEvent> record = new ProducerRecord<>(Topics.USAGE, decoded.clientAddress(),
                decoded);
        // what KafkaProducer.send does with the record before it batches the bytes
        sink.consume(stringSerializer.serialize(record.topic(), record.headers(), record.key()));
        sink.consume(eventSerializer.serialize(record.topic(), record.headers(), record.value()));
    }

    @Benchmark
    public void currentSend(Blackhole sink) {
        crc.reset();
        crc.update(currentRecord, 0, currentRecord.length);
        sink.consume(crc.getValue());
        ProducerRecord<byte[], byte[]> record = senderFormat.decode(currentRecord, 0, currentRecord.length)
                .toProducerRecord(Topics.USAGE);
        sink.consume(bytesSerializer.serialize(record.topic(), record.headers(), record.key()));
        sink.consume(bytesSerializer.serialize(record.topic(), record.headers(), record.value()));
    }

    /** Frames {@code record} as the spool's append does, into a buffer reused from one write to the next. */
    private int framed(byte[] record) {
        frame.clear();
        crc.reset();
        crc.update(record);
        frame.putInt(record.length).putInt((int) crc.getValue()).put(record);
        return frame.position();
    }

    /** The size of each record, for the docs. */
    public static void main(String[] args) {
        PublishPathBenchmark benchmark = new PublishPathBenchmark();
        benchmark.event();
        System.out.println("previous " + benchmark.previousRecord.length + " bytes, current "
                + benchmark.currentRecord.length + " bytes, of which JSON "
                + new String(benchmark.previousRecord, StandardCharsets.UTF_8).length());
    }
}
