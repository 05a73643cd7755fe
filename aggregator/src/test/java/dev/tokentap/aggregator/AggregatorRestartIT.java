package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A clean stop and start of the aggregator on the same state directory: the stores are found as they were left, so
 * nothing is read back from the changelogs. Counted by the aggregator's own restore listener, on {@code /metrics}.
 */
class AggregatorRestartIT {

    @RegisterExtension
    static final KafkaExtension KAFKA = new KafkaExtension();

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final int PARTITIONS = 6;
    private static final String RESTORED = "tokentap_aggregator_state_restored_records_total";

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<Aggregator> started = new ArrayList<>();
    private TestKafka kafka;

    @AfterEach
    void closeAggregators() {
        started.forEach(Aggregator::close);
    }

    @Test
    void shouldRestoreNothingAfterACleanRestartOnTheSameStateDir(@TempDir Path stateDir,
                                                                  @TempDir Path emptyStateDir) throws Exception {
        // given: 60 events from 5 addresses counted on 6 partitions (so some tasks see no event), every task's id
        // store has something in its changelog (so that wiping any task would show as restored records), and the
        // aggregator stopped cleanly
        String topic = "usage-clean-restart";
        String applicationId = "agg-clean-restart";
        Aggregator first = start(topic, applicationId, stateDir);
        produce(topic, events(60));
        awaitRequests(first, 60);
        awaitEveryPartitionWritten(applicationId + "-" + UsageTopology.EVENT_IDS_STORE + "-changelog");
        first.close();

        // when: it starts again on the same state directory, and 15 more events arrive
        Aggregator second = start(topic, applicationId, stateDir);
        produce(topic, events(15));

        // then: the totals carry on, and not one changelog record was read back
        awaitRequests(second, 75);
        PrometheusText metrics = PrometheusText.parse(get(second, "/metrics").body());
        for (String store : List.of(UsageTopology.TOTALS_STORE, UsageTopology.EVENT_IDS_STORE,
                UsageTopology.ADMITTED_MODELS_STORE, UsageTopology.ADMITTED_CLIENTS_STORE)) {
            assertThat(metrics.sum(RESTORED, Map.of("store", store))).as("restored into %s", store).isZero();
        }
        System.out.printf("FIGURES clean_restart partitions=%d events=75 requests_counted=%d restored_records=%d%n",
                PARTITIONS, metrics.sum("vllm_requests_total", Map.of()), metrics.sum(RESTORED, Map.of()));
        second.close();

        // and the counter does count: an instance on an empty state directory restores every store
        Aggregator fresh = start(topic, applicationId, emptyStateDir);
        awaitRequests(fresh, 75);
        PrometheusText restored = PrometheusText.parse(get(fresh, "/metrics").body());
        assertThat(restored.sum(RESTORED, Map.of("store", UsageTopology.TOTALS_STORE))).isPositive();
        assertThat(restored.sum(RESTORED, Map.of("store", UsageTopology.EVENT_IDS_STORE))).isGreaterThanOrEqualTo(75);
    }

    /**
     * The restart time with many label sets, a measurement rather than a check (run it by hand, see
     * docs/operations.md): {@code -Dtokentap.restart.labelsets=100000} events, each its own label set, counted; then
     * a clean restart on the same state directory and a start on an empty one, each timed from {@link
     * Aggregator#start} to RUNNING and to the first complete scrape. Prints {@code FIGURES} lines.
     */
    @Test
    @EnabledIfSystemProperty(named = "tokentap.restart.labelsets", matches = "\\d+")
    void shouldMeasureTheRestartWithManyLabelSets(@TempDir Path stateDir, @TempDir Path emptyStateDir)
            throws Exception {
        int labelSets = Integer.getInteger("tokentap.restart.labelsets");
        String topic = "usage-restart-time";
        String applicationId = "agg-restart-time";

        // given: every label set counted once
        long drainStart = System.nanoTime();
        Aggregator first = start(topic, applicationId, stateDir, labelSets);
        produceLabelSets(topic, labelSets);
        awaitConsumed(applicationId, topic);
        // the totals sub-topology may still be reading the repartition topic
        await().atMost(Duration.ofMinutes(10)).pollInterval(Duration.ofSeconds(2)).untilAsserted(() ->
                assertThat(PrometheusText.parse(get(first, "/metrics").body())
                        .sum("tokentap_aggregator_usage_series", Map.of())).isEqualTo(labelSets));
        long drainMillis = millisSince(drainStart);
        long scrapeStart = System.nanoTime();
        String body = get(first, "/metrics").body();
        long scrapeMillis = millisSince(scrapeStart);
        long closeStart = System.nanoTime();
        first.close();
        long closeMillis = millisSince(closeStart);
        System.out.printf("FIGURES restart label_sets=%d first_start_to_all_counted_ms=%d scrape_ms=%d "
                + "scrape_bytes=%d clean_close_ms=%d%n", labelSets, drainMillis, scrapeMillis, body.length(),
                closeMillis);

        // when / then: a clean restart on the same state directory, and a start on an empty one
        for (Path dir : List.of(stateDir, emptyStateDir)) {
            long startedAt = System.nanoTime();
            Aggregator again = start(topic, applicationId, dir, labelSets);
            assertThat(again.awaitRunning(Duration.ofMinutes(10))).isTrue();
            long runningMillis = millisSince(startedAt);
            PrometheusText metrics = PrometheusText.parse(get(again, "/metrics").body());
            long servingMillis = millisSince(startedAt);
            assertThat(metrics.sum("tokentap_aggregator_usage_series", Map.of())).isEqualTo(labelSets);
            long restored = metrics.sum(RESTORED, Map.of());
            System.out.printf("FIGURES restart label_sets=%d state_dir=%s start_to_running_ms=%d "
                            + "start_to_first_full_scrape_ms=%d restored_records=%d%n", labelSets,
                    dir.equals(stateDir) ? "kept" : "empty", runningMillis, servingMillis, restored);
            if (dir.equals(stateDir)) {
                assertThat(restored).isZero();
            }
            again.close();
        }
    }

    private void produceLabelSets(String topic, int labelSets) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, 20);
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
        try (KafkaProducer<String, UsageEvent> producer = new KafkaProducer<>(props, new StringSerializer(),
                new UsageEventSerde().serializer())) {
            for (int i = 0; i < labelSets; i++) {
                // one label set per event: its own client (a hundred per address, as behind a gateway) and model
                String address = "10.4." + (i / 100 % 256) + "." + (i / 25_600);
                UsageEvent event = UsageEvent.builder()
                        .eventId(UUID.randomUUID().toString())
                        .route("/v1/chat/completions")
                        .method("POST")
                        .status(200)
                        .outcome(Outcome.OK)
                        .model("model-" + (i % 10))
                        .clientAddress(address)
                        .tenant("tenant-" + (i / 10))
                        .proxyHost("proxy-0")
                        .promptTokens(10L)
                        .completionTokens(5L)
                        .build();
                producer.send(new ProducerRecord<>(topic, address, event));
            }
            producer.flush();
        }
    }

    /** Waits until the aggregator has committed offsets at the end of every partition of {@code topic}. */
    private void awaitConsumed(String applicationId, String topic) {
        try (Admin admin = Admin.create(kafka.clientProperties())) {
            await().atMost(Duration.ofMinutes(10)).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
                Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
                for (int p = 0; p < PARTITIONS; p++) {
                    latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
                }
                var ends = admin.listOffsets(latest).all().get(10, TimeUnit.SECONDS);
                var committed = admin.listConsumerGroupOffsets(applicationId).partitionsToOffsetAndMetadata()
                        .get(10, TimeUnit.SECONDS);
                ends.forEach((partition, end) -> assertThat(committed.get(partition) == null ? 0
                        : committed.get(partition).offset()).as("%s", partition).isEqualTo(end.offset()));
            });
        }
    }

    private static long millisSince(long nanos) {
        return (System.nanoTime() - nanos) / 1_000_000;
    }

    /** Waits until every partition of {@code topic} holds a committed record. */
    private void awaitEveryPartitionWritten(String topic) {
        try (Admin admin = Admin.create(kafka.clientProperties())) {
            await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
                Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
                for (int p = 0; p < PARTITIONS; p++) {
                    latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
                }
                var offsets = admin.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
                        .all().get(10, TimeUnit.SECONDS);
                assertThat(offsets.values()).as("committed end offsets of %s", topic)
                        .allSatisfy(o -> assertThat(o.offset()).isPositive());
            });
        }
    }

    private Aggregator start(String topic, String applicationId, Path stateDir) {
        return start(topic, applicationId, stateDir, UsageTopology.DEFAULT_CLIENT_SERIES_CAP);
    }

    private Aggregator start(String topic, String applicationId, Path stateDir, int clientSeriesCap) {
        Aggregator aggregator = Aggregator.start(AggregatorConfig.fromArgs("--client-series-cap",
                Integer.toString(clientSeriesCap), "--kafka", kafka.bootstrapServers(), "--topic", topic,
                "--application-id", applicationId, "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", stateDir.toString(), "--topic-partitions", Integer.toString(PARTITIONS),
                "--kubernetes", "off"));
        started.add(aggregator);
        return aggregator;
    }

    private void awaitRequests(Aggregator aggregator, long requests) {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).untilAsserted(() ->
                assertThat(PrometheusText.parse(get(aggregator, "/metrics").body())
                        .sum("vllm_requests_total", Map.of())).isEqualTo(requests));
    }

    private static List<UsageEvent> events(int n) {
        List<UsageEvent> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            events.add(UsageEvent.builder()
                    .eventId(UUID.randomUUID().toString())
                    .startedAt(System.currentTimeMillis())
                    .route("/v1/chat/completions")
                    .method("POST")
                    .status(200)
                    .outcome(Outcome.OK)
                    .model("model-" + (i % 4))
                    .clientAddress("10.2.0." + (i % 5))
                    .proxyHost("proxy-0")
                    .promptTokens(10L)
                    .completionTokens(5L)
                    .build());
        }
        return events;
    }

    private void produce(String topic, List<UsageEvent> events) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, UsageEvent> producer = new KafkaProducer<>(props, new StringSerializer(),
                new UsageEventSerde().serializer())) {
            for (UsageEvent event : events) {
                producer.send(new ProducerRecord<>(topic, event.clientAddress(), event));
            }
            producer.flush();
        }
    }

    private HttpResponse<String> get(Aggregator aggregator, String path) throws IOException, InterruptedException {
        // long: a scrape of many label sets takes seconds, more on a busy machine
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + aggregator.port() + path))
                .timeout(Duration.ofMinutes(5)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
