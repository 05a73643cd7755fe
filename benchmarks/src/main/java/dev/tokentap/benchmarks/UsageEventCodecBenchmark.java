package dev.tokentap.benchmarks;

import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventSerde;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Serializer;
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

/**
 * One usage event through its wire format: {@code encode} as the proxy writes it, {@code serializeWithHeaders} as
 * its Kafka producer calls the serde (JSON plus the CloudEvents headers), and {@code decode} as the aggregator reads
 * every record of the usage log (bytes to a validated event). The event is a streamed chat request with every field
 * a proxy usually fills in. Scores are per event.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class UsageEventCodecBenchmark {

    private final UsageEventCodec codec = new UsageEventCodec();
    private final Serializer<UsageEvent> serializer = new UsageEventSerde().serializer();
    private UsageEvent event;
    private byte[] json;

    @Setup
    public void event() {
        long started = 1_763_800_000_123L;
        event = SampleEvents.streamedChat(started, "5c1f0e7a2b9d4c3e8f6a1b2c3d4e5f60");
        json = codec.encode(event);
    }

    @Benchmark
    public byte[] encode() {
        return codec.encode(event);
    }

    @Benchmark
    public byte[] serializeWithHeaders() {
        return serializer.serialize(Topics.USAGE, new RecordHeaders(), event);
    }

    @Benchmark
    public UsageEvent decode() {
        return codec.decode(json);
    }
}
