package dev.tokentap.proxy.publish;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.proxy.ProxyMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.UUID;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The spool on a small real filesystem that runs full: a 2 MiB tmpfs mounted for the test. Mounting needs root and
 * a kernel that allows it (the build machines do); elsewhere the test is skipped and says why.
 */
class SpoolDiskFullIT {

    private static final Duration WAIT = Duration.ofSeconds(30);
    /** What the drill had free after a full disk was partly cleared: less than one write of the batch. */
    private static final int FREED = 208 * 1024;

    @TempDir
    Path mountPoint;

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final ProxyMetrics metrics = new ProxyMetrics(registry);
    private SpoolingUsagePublisher publisher;
    private boolean mounted;

    @BeforeEach
    void mountASmallDisk() throws Exception {
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=2m", "tokentap-spool-test",
                mountPoint.toString()).redirectErrorStream(true).start();
        String output = new String(mount.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        mounted = mount.waitFor() == 0;
        assumeTrue(mounted, "cannot mount a tmpfs here: " + output.strip());
    }

    @AfterEach
    void unmount() throws Exception {
        if (publisher != null) {
            publisher.halt();
        }
        if (mounted) {
            new ProcessBuilder("umount", mountPoint.toString()).inheritIO().start().waitFor();
        }
    }

    @Test
    void shouldWriteWhatFitsOnceAFullDiskIsPartlyFreedAndCountWhatWaitsInMemory() throws Exception {
        // given a spool on a disk that is full, with Kafka away, so that nothing leaves it
        Path filler = mountPoint.resolve("filler");
        publisher = new SpoolingUsagePublisher(new MockProducer<>(false, null, new ByteArraySerializer(),
                new ByteArraySerializer()), "usage", 5_000,
                new DiskSpool(mountPoint.resolve("spool"), 1L << 30), metrics);
        long filled = fill(filler);
        int events = 1_500;
        for (int i = 0; i < events; i++) {
            publisher.publish(event());
        }
        await().atMost(WAIT).until(() -> errors() >= 2);
        assertThat(count(ProxyMetrics.EVENTS_SPOOLED)).isZero();
        // every event is in memory, the batch the writer holds included
        assertThat(gauge(ProxyMetrics.PUBLISH_QUEUE_SIZE)).isEqualTo(events);

        // when less is freed than one write of the batch takes
        try (FileChannel channel = FileChannel.open(filler, StandardOpenOption.WRITE)) {
            channel.truncate(filled - FREED);
        }

        // then the writer writes what fits, in smaller and smaller writes, most of the room (each new segment
        // after a failed write takes a page of its own), and the gauge counts what is left in memory
        long eventBytes = DiskSpool.HEADER + new SpoolRecordFormat(new UsageEventCodec()).encode(event()).length;
        long freedAt = System.nanoTime();
        long errorsBefore = errors();
        await().atMost(WAIT).until(() -> count(ProxyMetrics.EVENTS_SPOOLED) * eventBytes > FREED / 2);
        // full again: a write failed and nothing more was written since the last look
        long[] last = {-1, -1};
        await().atMost(WAIT).pollInterval(Duration.ofSeconds(1)).until(() -> {
            long spooled = count(ProxyMetrics.EVENTS_SPOOLED);
            long failed = errors();
            boolean full = spooled == last[0] && failed > last[1] && last[1] >= 0;
            last[0] = spooled;
            last[1] = failed;
            return full;
        });
        System.out.printf("FIGURES scenario=\"disk full, then %d KiB freed\" event_bytes=%d spooled=%d "
                        + "spooled_bytes=%d in_memory=%d failed_writes_since=%d seconds_to_full_again=%.1f%n",
                FREED / 1024, eventBytes, count(ProxyMetrics.EVENTS_SPOOLED),
                count(ProxyMetrics.EVENTS_SPOOLED) * eventBytes, gauge(ProxyMetrics.PUBLISH_QUEUE_SIZE),
                errors() - errorsBefore, (System.nanoTime() - freedAt) / 1e9);
        assertThat(count(ProxyMetrics.EVENTS_SPOOLED) * eventBytes).isLessThanOrEqualTo(FREED);
        // read between two writes: a write counts its events spooled, then takes them off the gauge
        await().atMost(WAIT).untilAsserted(() -> assertThat(count(ProxyMetrics.EVENTS_SPOOLED)
                + gauge(ProxyMetrics.PUBLISH_QUEUE_SIZE)).isEqualTo(events));

        // when the rest is freed, then every event is written and none was lost
        Files.delete(filler);
        await().atMost(WAIT).until(() -> count(ProxyMetrics.EVENTS_SPOOLED) == events
                && gauge(ProxyMetrics.PUBLISH_QUEUE_SIZE) == 0 && !publisher.health().degraded());
        assertThat(count(ProxyMetrics.EVENTS_DROPPED)).isZero();
        assertThat(registry.get(ProxyMetrics.PUBLISH_FAILURES).counters())
                .allSatisfy(c -> assertThat(c.count()).isZero());
    }

    /** Writes to {@code file} until the disk is full; returns how much it wrote. */
    private static long fill(Path file) throws IOException {
        long written = 0;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer block = ByteBuffer.allocate(4096);
            while (true) {
                block.clear();
                try {
                    written += channel.write(block);
                } catch (IOException full) {
                    return written;
                }
            }
        }
    }

    private long errors() {
        return (long) registry.get(ProxyMetrics.SPOOL_ERRORS).tag(ProxyMetrics.TAG_OPERATION,
                ProxyMetrics.OPERATION_WRITE).counter().count();
    }

    private long count(String name) {
        return (long) registry.get(name).counter().count();
    }

    private long gauge(String name) {
        return (long) registry.get(name).gauge().value();
    }

    private static UsageEvent event() {
        return UsageEvent.builder().eventId(UUID.randomUUID().toString()).requestId(UUID.randomUUID().toString())
                .route("/v1/chat/completions").method("POST").status(200).outcome(Outcome.OK)
                .model("meta-llama/Llama-3.1-8B-Instruct").clientAddress("10.1.2.3").proxyHost("proxy-0")
                .upstream("vllm:8000").startedAt(1_763_800_000_000L).endedAt(1_763_800_000_900L)
                .promptTokens(1200L).completionTokens(300L).totalTokens(1500L).build();
    }
}
