package dev.tokentap.proxy.publish;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.proxy.ProxyMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A proxy upgraded on a spool that the release before the record format left (each record the event's JSON
 * alone) sends every event in it as that release would have: nothing is lost or changed by the upgrade.
 */
class PreviousSpoolFormatTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    /** Segments written by that release's tap-proxy itself; how: the README beside them. */
    private static final List<String> FIXTURE = List.of("00000000000000000000.spool", "00000000000000000001.spool");

    @TempDir
    Path dir;

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final ProxyMetrics metrics = new ProxyMetrics(registry);
    private final UsageEventCodec codec = new UsageEventCodec();
    private SpoolingUsagePublisher publisher;

    @AfterEach
    void close() {
        if (publisher != null) {
            publisher.close(Duration.ofSeconds(1));
        }
    }

    @Test
    void shouldSendASpoolLeftByThePreviousReleaseAsThatReleaseWould() throws IOException {
        // given the segments that release's proxy left when it was killed with Kafka away
        List<byte[]> spooled = new ArrayList<>();
        for (String segment : FIXTURE) {
            byte[] bytes = fixture(segment);
            Files.write(dir.resolve(segment), bytes);
            spooled.addAll(records(bytes));
        }
        assertThat(spooled).hasSize(3);

        // when this release starts on them
        MockProducer<byte[], byte[]> producer = producer();
        publisher = new SpoolingUsagePublisher(producer, "usage", 100, new DiskSpool(dir, 1 << 20), metrics);

        // then every event goes out, in order, as the contract's record of it with the JSON as spooled
        await().atMost(WAIT).until(() -> count(ProxyMetrics.EVENTS_PUBLISHED) == 3 && spoolBytes() == 0);
        List<ProducerRecord<byte[], byte[]>> sent = producer.history();
        assertThat(sent).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(sent.get(i).value()).isEqualTo(spooled.get(i));
            ContractRecords.assertIsTheContractsRecordOf(sent.get(i), codec.decode(spooled.get(i)));
        }
        assertThat(sent.stream().map(r -> ContractRecords.event(r).requestId()).toList().get(0))
                .isEqualTo("fixture-completion-1");
        assertThat(sent.stream().map(r -> ContractRecords.event(r).outcome()).toList())
                .containsExactly(Outcome.OK, Outcome.OK, Outcome.UPSTREAM_ERROR);
        assertThat(count(ProxyMetrics.EVENTS_REPLAYED)).isEqualTo(3);
    }

    @Test
    void shouldSendRecordsOfBothFormatsInOneSegmentInTheirOrder() throws IOException {
        // given a segment holding records of that release's encoding and of this one's, in turn
        List<UsageEvent> events = events(4);
        SpoolRecordFormat format = new SpoolRecordFormat(codec);
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            spool.append(List.of(codec.encode(events.get(0)), format.encode(events.get(1))));
            spool.append(List.of(codec.encode(events.get(2)), format.encode(events.get(3))));
        }

        // when
        MockProducer<byte[], byte[]> producer = producer();
        publisher = new SpoolingUsagePublisher(producer, "usage", 100, new DiskSpool(dir, 1 << 20), metrics);

        // then
        await().atMost(WAIT).until(() -> count(ProxyMetrics.EVENTS_PUBLISHED) == 4 && spoolBytes() == 0);
        for (int i = 0; i < 4; i++) {
            ContractRecords.assertIsTheContractsRecordOf(producer.history().get(i), events.get(i));
        }
    }

    private static List<UsageEvent> events(int n) {
        List<UsageEvent> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            events.add(UsageEvent.builder().eventId("019a9c41-7d2e-7b3a-9c4d-5e6f7a8b9c0" + i).route("/v1/completions")
                    .outcome(Outcome.OK).clientAddress("10.1.2." + i).proxyHost("proxy-0").promptTokens(10L + i)
                    .endedAt(1_763_800_000_000L + i * 999L).build());
        }
        return events;
    }

    /** The records of a segment file, read as plainly as possible: {@code [length][crc][bytes]}. */
    private static List<byte[]> records(byte[] segment) {
        List<byte[]> records = new ArrayList<>();
        ByteBuffer in = ByteBuffer.wrap(segment);
        while (in.hasRemaining()) {
            int length = in.getInt();
            in.getInt();
            records.add(Arrays.copyOfRange(segment, in.position(), in.position() + length));
            in.position(in.position() + length);
        }
        return records;
    }

    private static byte[] fixture(String name) throws IOException {
        try (InputStream in = PreviousSpoolFormatTest.class.getResourceAsStream("/spool/previous-release/" + name)) {
            assertThat(in).as(name).isNotNull();
            return in.readAllBytes();
        }
    }

    private static MockProducer<byte[], byte[]> producer() {
        return new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
    }

    private long count(String name) {
        return (long) registry.get(name).counter().count();
    }

    private long spoolBytes() {
        return (long) registry.get(ProxyMetrics.SPOOL_BYTES).gauge().value();
    }
}
