package dev.tokentap.proxy.publish;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.proxy.ProxyMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SpoolingUsagePublisherTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private final List<SpoolingUsagePublisher> started = new ArrayList<>();

    @AfterEach
    void close() {
        started.forEach(p -> p.close(Duration.ofSeconds(1)));
    }

    @Test
    void shouldSendEverySpooledEventAndEmptyTheSpool() {
        // given
        Meters meters = new Meters();
        MockProducer<byte[], byte[]> producer = producer(true);
        SpoolingUsagePublisher publisher = start(producer, 1 << 20, meters);
        List<UsageEvent> events = events(5);

        // when
        events.forEach(publisher::publish);

        // then
        await().atMost(WAIT).until(() -> meters.count(ProxyMetrics.EVENTS_PUBLISHED) == 5
                && meters.gauge(ProxyMetrics.SPOOL_BYTES) == 0);
        assertThat(ids(producer.history())).containsExactlyElementsOf(ids(events));
        // each record is the contract's, byte for byte: key, CloudEvents headers and JSON
        for (int i = 0; i < events.size(); i++) {
            ContractRecords.assertIsTheContractsRecordOf(producer.history().get(i), events.get(i));
        }
        assertThat(meters.count(ProxyMetrics.EVENTS_SPOOLED)).isEqualTo(5);
        assertThat(meters.count(ProxyMetrics.EVENTS_REPLAYED)).isZero();
    }

    @Test
    void shouldCompleteAnEventsStageOnlyOnceTheEventIsInTheSpoolFile() throws Exception {
        // given a Kafka that never acknowledges, so that nothing leaves the spool; the checks below run on the
        // writer's thread and slow it down, so it gets all the time it needs
        Meters meters = new Meters();
        SpoolingUsagePublisher publisher = new SpoolingUsagePublisher(producer(false), "usage", 1000,
                new DiskSpool(dir, 1 << 20), Duration.ofSeconds(60), meters.metrics);
        started.add(publisher);
        List<String> notInFile = new CopyOnWriteArrayList<>();
        List<CompletableFuture<Void>> checked = new ArrayList<>();

        // when many events come at once, and each stage looks at the files the moment it completes
        for (UsageEvent event : events(300)) {
            checked.add(publisher.publish(event).thenRun(() -> {
                if (!spoolFilesContain(event.eventId())) {
                    notInFile.add(event.eventId());
                }
            }).toCompletableFuture());
        }
        CompletableFuture.allOf(checked.toArray(CompletableFuture[]::new)).get(20, TimeUnit.SECONDS);

        // then every one was there already, written by the spool's writer rather than let go
        assertThat(notInFile).isEmpty();
        assertThat(meters.count(ProxyMetrics.EVENTS_SPOOLED)).isEqualTo(300);
        assertThat(meters.count(ProxyMetrics.EVENTS_RELEASED_UNWRITTEN)).isZero();
    }

    @Test
    void shouldLetNoStageWaitLongerThanTheWriteTimeoutAndStillWriteEveryEvent() throws Exception {
        // given a writer that may keep a response waiting 1 ms at most
        Meters meters = new Meters();
        SpoolingUsagePublisher publisher = new SpoolingUsagePublisher(producer(false), "usage", 30_000,
                new DiskSpool(dir, 1L << 30), Duration.ofMillis(1), meters.metrics);
        started.add(publisher);

        // when more events come at once than it writes in a few milliseconds
        List<CompletableFuture<Void>> stages = new ArrayList<>();
        for (UsageEvent event : events(20_000)) {
            stages.add(publisher.publish(event).toCompletableFuture());
        }

        // then every stage completes, those that waited too long let go, and still every event is written
        CompletableFuture.allOf(stages.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        assertThat(meters.count(ProxyMetrics.EVENTS_RELEASED_UNWRITTEN)).isPositive();
        await().atMost(WAIT).until(() -> meters.count(ProxyMetrics.EVENTS_SPOOLED) == 20_000);
        assertThat(meters.gauge(ProxyMetrics.PUBLISH_QUEUE_SIZE)).isZero();
        assertThat(meters.registry.get(ProxyMetrics.PUBLISH_FAILURES).counters())
                .allSatisfy(c -> assertThat(c.count()).isZero());
    }

    @Test
    void shouldLeaveUnacknowledgedEventsOnDiskForTheNextProcessToReplay() {
        // given: Kafka takes the events but never acknowledges them, and the process dies
        Meters before = new Meters();
        MockProducer<byte[], byte[]> silent = producer(false);
        SpoolingUsagePublisher first = new SpoolingUsagePublisher(silent, "usage", 100, new DiskSpool(dir, 1 << 20),
                before.metrics);
        List<UsageEvent> events = events(3);
        events.forEach(first::publish);
        await().atMost(WAIT).until(() -> silent.history().size() == 3);
        first.halt();

        // when
        Meters after = new Meters();
        MockProducer<byte[], byte[]> producer = producer(true);
        start(producer, 1 << 20, after);

        // then
        await().atMost(WAIT).until(() -> after.gauge(ProxyMetrics.SPOOL_BYTES) == 0);
        assertThat(ids(producer.history())).containsExactlyElementsOf(ids(events));
        assertThat(after.count(ProxyMetrics.EVENTS_REPLAYED)).isEqualTo(3);
        assertThat(after.count(ProxyMetrics.EVENTS_PUBLISHED)).isEqualTo(3);
    }

    @Test
    void shouldSendASegmentAgainWhenASendFailed() {
        // given
        Meters meters = new Meters();
        MockProducer<byte[], byte[]> producer = producer(false);
        start(producer, 1 << 20, meters).publish(events(1).get(0));
        await().atMost(WAIT).until(() -> producer.history().size() == 1);

        // when: the send times out
        producer.errorNext(new TimeoutException("broker away"));

        // then: it is sent again, and the spool empties once that is acknowledged
        await().atMost(WAIT).until(() -> producer.history().size() == 2);
        producer.completeNext();
        await().atMost(WAIT).until(() -> meters.gauge(ProxyMetrics.SPOOL_BYTES) == 0);
        assertThat(producer.history().get(1).value()).isEqualTo(producer.history().get(0).value());
        assertThat(meters.count(ProxyMetrics.EVENTS_REPLAYED)).isEqualTo(1);
        assertThat(meters.count(ProxyMetrics.EVENTS_PUBLISHED)).isEqualTo(1);
    }

    @Test
    void shouldDropAndCountEventsBeyondTheCap() {
        // given: a spool with room for about two events, and a Kafka that never acknowledges
        Meters meters = new Meters();
        SpoolingUsagePublisher publisher = start(producer(false), 700, meters);

        // when
        events(10).forEach(publisher::publish);

        // then
        await().atMost(WAIT).until(() -> meters.count(ProxyMetrics.EVENTS_SPOOLED)
                + meters.count(ProxyMetrics.EVENTS_DROPPED) == 10);
        assertThat(meters.count(ProxyMetrics.EVENTS_DROPPED)).isPositive();
        assertThat(meters.gauge(ProxyMetrics.SPOOL_BYTES)).isLessThanOrEqualTo(700);
    }

    @Test
    void shouldKeepWhatKafkaDidNotTakeByCloseOnDisk() {
        // given
        Meters meters = new Meters();
        MockProducer<byte[], byte[]> silent = producer(false);
        SpoolingUsagePublisher publisher = new SpoolingUsagePublisher(silent, "usage", 100,
                new DiskSpool(dir, 1 << 20), meters.metrics);
        events(4).forEach(publisher::publish);

        // when
        publisher.close(Duration.ofMillis(500));

        // then: the next one replays them
        Meters after = new Meters();
        MockProducer<byte[], byte[]> producer = producer(true);
        start(producer, 1 << 20, after);
        await().atMost(WAIT).until(() -> producer.history().size() == 4);
        assertThat(meters.count(ProxyMetrics.EVENTS_SPOOLED)).isEqualTo(4);
    }

    @Test
    void shouldKeepEventsThroughASpoolDirectoryThatIsGoneAndDeliverThemWhenItIsBack() throws Exception {
        // given a spool in a directory of its own, with its first events delivered and its segments deleted
        Path spoolDir = dir.resolve("spool");
        Path away = dir.resolve("spool-away");
        Meters meters = new Meters();
        MockProducer<byte[], byte[]> producer = producer(true);
        SpoolingUsagePublisher publisher = new SpoolingUsagePublisher(producer, "usage", 100,
                new DiskSpool(spoolDir, 1 << 20), meters.metrics);
        started.add(publisher);
        List<UsageEvent> before = events(3);
        before.forEach(publisher::publish);
        await().atMost(WAIT).until(() -> meters.count(ProxyMetrics.EVENTS_PUBLISHED) == 3
                && meters.gauge(ProxyMetrics.SPOOL_BYTES) == 0);

        // when the directory is replaced by a regular file (a real fault: no segment can be created in it)
        Files.move(spoolDir, away);
        Files.writeString(spoolDir, "not a directory");
        List<UsageEvent> during = events(20);
        List<CompletableFuture<Void>> stages = new ArrayList<>();
        during.forEach(e -> stages.add(publisher.publish(e).toCompletableFuture()));

        // then the writer fails, says so, and keeps the events in memory instead of stopping; no response waits
        // for a disk that fails
        await().atMost(WAIT).until(() -> errors(meters, ProxyMetrics.OPERATION_WRITE) >= 2
                && publisher.health().degraded());
        assertThat(publisher.health()).isEqualTo(SpoolingUsagePublisher.WRITE_FAILING);
        assertThat(meters.count(ProxyMetrics.EVENTS_PUBLISHED)).isEqualTo(3);
        CompletableFuture.allOf(stages.toArray(CompletableFuture[]::new)).get(20, TimeUnit.SECONDS);
        assertThat(meters.count(ProxyMetrics.EVENTS_RELEASED_UNWRITTEN)).isEqualTo(20);
        assertThat(meters.gauge(ProxyMetrics.PUBLISH_QUEUE_SIZE)).isEqualTo(20);

        // when the directory is back
        Files.delete(spoolDir);
        Files.move(away, spoolDir);

        // then every event of the fault is spooled and delivered, none lost, and the spool is healthy again
        await().atMost(WAIT).until(() -> meters.count(ProxyMetrics.EVENTS_PUBLISHED) == 23
                && !publisher.health().degraded() && meters.gauge(ProxyMetrics.SPOOL_BYTES) == 0);
        assertThat(ids(producer.history())).containsAll(ids(during));
        assertThat(meters.count(ProxyMetrics.EVENTS_SPOOLED)).isEqualTo(23);
        assertThat(meters.count(ProxyMetrics.EVENTS_DROPPED)).isZero();
        assertThat(meters.registry.get(ProxyMetrics.PUBLISH_FAILURES).counters())
                .allSatisfy(c -> assertThat(c.count()).isZero());
        try (var left = Files.list(spoolDir)) {
            assertThat(left.map(p -> p.getFileName().toString())).containsExactly("lock");
        }
    }

    @Test
    void shouldDropAndCountOnlyWhatTheHandOffCannotHoldWhileTheSpoolFails() throws Exception {
        // given a spool whose directory is gone, and a hand-off of 100 events
        Path spoolDir = dir.resolve("spool");
        Meters meters = new Meters();
        SpoolingUsagePublisher publisher = new SpoolingUsagePublisher(producer(true), "usage", 100,
                new DiskSpool(spoolDir, 1 << 20), meters.metrics);
        started.add(publisher);
        Files.move(spoolDir, dir.resolve("spool-away"));
        Files.writeString(spoolDir, "not a directory");
        publisher.publish(events(1).get(0));
        await().atMost(WAIT).until(() -> publisher.health().degraded());

        // when 150 more come while it fails
        events(150).forEach(publisher::publish);

        // then the hand-off keeps 100 and the other 50 are counted lost; the gauge counts every event in memory,
        // the one the writer holds too
        assertThat(meters.registry.get(ProxyMetrics.PUBLISH_FAILURES).tag(ProxyMetrics.TAG_REASON,
                ProxyMetrics.REASON_QUEUE_FULL).counter().count()).isEqualTo(50);
        assertThat(meters.gauge(ProxyMetrics.PUBLISH_QUEUE_SIZE)).isEqualTo(101);
    }

    @Test
    void shouldRetryDeletingADeliveredSegmentWithoutSendingItAgain() throws Exception {
        // given three events sent from the spool, not yet acknowledged
        Path spoolDir = dir.resolve("spool");
        Path away = dir.resolve("spool-away");
        Meters meters = new Meters();
        MockProducer<byte[], byte[]> producer = producer(false);
        SpoolingUsagePublisher publisher = new SpoolingUsagePublisher(producer, "usage", 100,
                new DiskSpool(spoolDir, 1 << 20), meters.metrics);
        started.add(publisher);
        events(3).forEach(publisher::publish);
        await().atMost(WAIT).until(() -> producer.history().size() == 3);

        // when the directory goes away, then Kafka acknowledges them
        Files.move(spoolDir, away);
        Files.writeString(spoolDir, "not a directory");
        while (producer.completeNext()) {
            // acknowledge each
        }

        // then deleting the delivered segment fails and is retried, and nothing is sent again
        await().atMost(WAIT).until(() -> errors(meters, ProxyMetrics.OPERATION_DELETE) >= 2
                && publisher.health().degraded());
        assertThat(meters.count(ProxyMetrics.EVENTS_PUBLISHED)).isEqualTo(3);

        // when the directory is back, the segment goes and the spool is healthy, still with no copy sent
        Files.delete(spoolDir);
        Files.move(away, spoolDir);
        await().atMost(WAIT).until(() -> !publisher.health().degraded()
                && meters.gauge(ProxyMetrics.SPOOL_BYTES) == 0);
        assertThat(producer.history()).hasSize(3);
        assertThat(meters.count(ProxyMetrics.EVENTS_REPLAYED)).isZero();
    }

    /** Whether a segment file holds {@code eventId}, read as a killed process would leave it. */
    private boolean spoolFilesContain(String eventId) {
        try (var files = Files.list(dir)) {
            for (Path file : files.filter(p -> p.toString().endsWith(DiskSpool.SUFFIX)).toList()) {
                if (new String(Files.readAllBytes(file), StandardCharsets.UTF_8).contains(eventId)) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static long errors(Meters meters, String operation) {
        return (long) meters.registry.get(ProxyMetrics.SPOOL_ERRORS).tag(ProxyMetrics.TAG_OPERATION, operation)
                .counter().count();
    }

    private SpoolingUsagePublisher start(MockProducer<byte[], byte[]> producer, long maxBytes, Meters meters) {
        SpoolingUsagePublisher publisher = new SpoolingUsagePublisher(producer, "usage", 100,
                new DiskSpool(dir, maxBytes), meters.metrics);
        started.add(publisher);
        return publisher;
    }

    private static MockProducer<byte[], byte[]> producer(boolean autoComplete) {
        return new MockProducer<>(autoComplete, null, new ByteArraySerializer(),
                new ByteArraySerializer());
    }

    private static List<UsageEvent> events(int n) {
        List<UsageEvent> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            events.add(UsageEvent.builder().eventId(UUID.randomUUID().toString()).route("/v1/completions")
                    .outcome(Outcome.OK).clientAddress("10.1.2.3").proxyHost("proxy-0")
                    .endedAt(1_763_800_000_000L).build());
        }
        return events;
    }

    private static List<String> ids(List<?> eventsOrRecords) {
        return eventsOrRecords.stream().map(o -> o instanceof ProducerRecord<?, ?> r
                ? new UsageEventCodec().decode((byte[]) r.value()).eventId() : ((UsageEvent) o).eventId()).toList();
    }

    private static final class Meters {
        final SimpleMeterRegistry registry = new SimpleMeterRegistry();
        final ProxyMetrics metrics = new ProxyMetrics(registry);

        long count(String name) {
            return (long) registry.get(name).counter().count();
        }

        long gauge(String name) {
            return (long) registry.get(name).gauge().value();
        }
    }
}
