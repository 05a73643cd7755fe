package dev.tokentap.aggregator;

import dev.tokentap.testkit.metrics.PrometheusText;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.aggregator.k8s.PodIdentity;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventDecodeException;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The aggregator against a real broker: exact totals on {@code /metrics}, across a restart with and without its
 * local state, and with a garbage record in the log. One broker for the class; each test has its own topic and
 * application id.
 */
class AggregatorIT {

    @RegisterExtension
    static final KafkaExtension KAFKA = new KafkaExtension();

    private static final List<String> CLIENTS = List.of("10.1.0.1", "10.1.0.2", "10.1.0.3");
    private static final List<String> MODELS = List.of("llama", "qwen");
    private static final List<String> OUTCOMES = List.of(Outcome.OK, Outcome.OK, Outcome.OK, Outcome.UPSTREAM_ERROR,
            Outcome.CLIENT_ABORTED);
    private static final Duration WAIT = Duration.ofSeconds(90);

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<Aggregator> started = new ArrayList<>();
    private final Random random = new Random(42);
    private TestKafka kafka;
    private String topic;
    private String applicationId;

    @AfterEach
    void closeAggregators() {
        started.forEach(Aggregator::close);
    }

    @Test
    void shouldServeExactPerClientTotals(TestInfo test, @TempDir Path stateDir) throws Exception {
        // given: the aggregator creates the missing usage topic
        name(test);
        Aggregator aggregator = start(stateDir);
        assertThat(aggregator.awaitRunning(WAIT)).isTrue();
        try (Admin admin = Admin.create(kafka.clientProperties())) {
            assertThat(admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS)
                    .get(topic).partitions()).hasSize(3);
        }

        // when
        List<UsageEvent> events = events(90);
        produce(events);

        // then
        awaitTotals(aggregator, events);
        assertThat(get(aggregator, "/readyz").statusCode()).isEqualTo(200);
        String usage = get(aggregator, "/api/v1/usage").body();
        for (String client : CLIENTS) {
            assertThat(usage).contains("\"client_name\":\"" + client + "\"");
        }
    }

    @Test
    void shouldNeitherLoseNorDoubleCountAcrossARestart(TestInfo test, @TempDir Path stateDir) throws Exception {
        name(test);
        countHalfThenRestart(stateDir, stateDir);
    }

    @Test
    void shouldRestoreExactTotalsFromTheChangelogIntoAnEmptyStateDir(TestInfo test, @TempDir Path stateDir,
                                                                      @TempDir Path emptyStateDir) throws Exception {
        name(test);
        countHalfThenRestart(stateDir, emptyStateDir);
    }

    /**
     * Half of 80 events counted by a first instance on {@code firstStateDir}; the rest arrive while it is down; a
     * second instance on {@code secondStateDir} (the same one, or an empty one that must be restored from the
     * changelog) must reach the totals of all 80.
     */
    private void countHalfThenRestart(Path firstStateDir, Path secondStateDir) throws Exception {
        List<UsageEvent> events = events(80);
        List<UsageEvent> firstHalf = events.subList(0, 40);

        // given: half counted by a first instance
        produce(firstHalf);
        Aggregator first = start(firstStateDir);
        awaitTotals(first, firstHalf);
        first.close();

        // when: the rest arrives while it is down, and a second instance takes over
        produce(events.subList(40, 80));
        Aggregator second = start(secondStateDir);

        // then
        awaitTotals(second, events);
    }

    @Test
    void shouldCountAnEventPublishedAgainOnceEvenAfterARestartOnAnEmptyStateDir(
            TestInfo test, @TempDir Path stateDir, @TempDir Path emptyStateDir) throws Exception {
        // given: events counted by a first instance
        name(test);
        List<UsageEvent> first = events(30);
        List<UsageEvent> more = events(10);
        produce(first);
        Aggregator before = start(stateDir);
        awaitTotals(before, first);
        before.close();

        // when: a proxy replays all of them (their acknowledgement was lost), and more arrive; a new instance
        // restores the event ids from the changelog
        produce(first);
        produce(more);
        Aggregator after = start(emptyStateDir);

        // then: each counted once
        List<UsageEvent> all = new ArrayList<>(first);
        all.addAll(more);
        awaitTotals(after, all);
        // the metric counts processing attempts: a task retried under exactly-once may count a copy again
        assertThat(PrometheusText.parse(get(after, "/metrics").body())
                .sum("tokentap_aggregator_duplicates_total", Map.of())).isGreaterThanOrEqualTo(first.size());
    }

    @Test
    void shouldSendAGarbageRecordToTheDlqCountItAndCarryOn(TestInfo test, @TempDir Path stateDir) throws Exception {
        // given
        name(test);
        List<UsageEvent> before = events(10);
        List<UsageEvent> after = events(10);
        String garbageKey = "garbage-" + applicationId;
        byte[] garbage = "{\"this is\": not a usage event".getBytes(StandardCharsets.UTF_8);

        // when
        produce(before);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(topic, garbageKey.getBytes(StandardCharsets.UTF_8), garbage)).get();
        }
        produce(after);
        Aggregator aggregator = start(stateDir);

        // then
        List<UsageEvent> all = new ArrayList<>(before);
        all.addAll(after);
        awaitTotals(aggregator, all);
        PrometheusText metrics = PrometheusText.parse(get(aggregator, "/metrics").body());
        // the metric counts processing attempts: a task retried under exactly-once may count a record again
        assertThat(metrics.sum("tokentap_aggregator_decode_failures_total",
                Map.of("reason", UsageEventDecodeException.MALFORMED))).isPositive();

        ConsumerRecord<byte[], byte[]> dead = readDlq(garbageKey);
        assertThat(dead.value()).isEqualTo(garbage);
        assertThat(new String(dead.headers().lastHeader(UsageTopology.DLQ_REASON_HEADER).value(),
                StandardCharsets.UTF_8)).isEqualTo(UsageEventDecodeException.MALFORMED);
    }

    @Test
    void shouldWriteEnrichedAndDeadLetterRecordsToTheTopicsItIsGiven(TestInfo test, @TempDir Path stateDir)
            throws Exception {
        // given: an aggregator of its own usage topic, with its own enriched and dead-letter topics
        name(test);
        String enriched = topic + ".enriched";
        String dlq = topic + ".dlq";
        Aggregator aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(),
                "--topic", topic, "--enriched-topic", enriched, "--dlq-topic", dlq, "--application-id", applicationId,
                "--listen", "127.0.0.1", "--port", "0", "--state-dir", stateDir.toString(), "--topic-partitions", "1",
                "--kubernetes", "off"));
        started.add(aggregator);

        // when
        List<UsageEvent> events = events(5);
        produce(events);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(topic, "garbage".getBytes(StandardCharsets.UTF_8),
                    "not an event".getBytes(StandardCharsets.UTF_8))).get();
        }

        // then: each record is in the topic named for it
        awaitTotals(aggregator, events);
        assertThat(readAll(enriched, 5)).hasSize(5);
        assertThat(readAll(dlq, 1)).singleElement()
                .satisfies(r -> assertThat(r.value()).asString(StandardCharsets.UTF_8).isEqualTo("not an event"));
    }

    @Test
    void shouldBecomeReadyOnlyOnceThePodDirectoryHasSynced(TestInfo test, @TempDir Path stateDir) throws Exception {
        // given a pod directory that has not synced yet, and no sync timeout in sight
        name(test);
        AtomicBoolean synced = new AtomicBoolean();
        PodDirectory pods = new PodDirectory() {
            @Override
            public PodIdentity lookup(String ip, long epochMillis) {
                return null;
            }

            @Override
            public boolean synced() {
                return synced.get();
            }

            @Override
            public long currentAsOf() {
                return synced.get() ? System.currentTimeMillis() : -1;
            }

            @Override
            public boolean watchesKubernetes() {
                return true;
            }
        };
        Aggregator aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(),
                "--topic", topic, "--application-id", applicationId, "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", stateDir.toString(), "--topic-partitions", "1", "--kubernetes-sync-timeout", "1h"),
                pods);
        started.add(aggregator);

        // when Streams runs, the aggregator is still not ready
        assertThat(aggregator.awaitRunning(WAIT)).isTrue();
        assertThat(get(aggregator, "/readyz").statusCode()).isEqualTo(503);
        assertThat(PrometheusText.parse(get(aggregator, "/metrics").body())
                .sum("tokentap_aggregator_pod_directory_synced", Map.of())).isZero();

        // then it is once the directory has synced
        synced.set(true);
        await().atMost(WAIT).until(() -> get(aggregator, "/readyz").statusCode() == 200);
        assertThat(PrometheusText.parse(get(aggregator, "/metrics").body())
                .sum("tokentap_aggregator_pod_directory_synced", Map.of())).isEqualTo(1);
    }

    private void name(TestInfo test) {
        String id = test.getTestMethod().orElseThrow().getName().replaceAll("[^A-Za-z0-9]", "").toLowerCase();
        topic = "usage-" + id;
        applicationId = "agg-" + id;
    }

    private Aggregator start(Path stateDir) {
        Aggregator aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(),
                "--topic", topic, "--application-id", applicationId, "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", stateDir.toString(), "--topic-partitions", "3", "--kubernetes", "off"));
        started.add(aggregator);
        return aggregator;
    }

    /** Waits until every label set on /metrics carries exactly the sums of {@code events}, and no other. */
    private void awaitTotals(Aggregator aggregator, List<UsageEvent> events) {
        Map<Map<String, String>, long[]> expected = expectedTotals(events);
        await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
            PrometheusText metrics = PrometheusText.parse(get(aggregator, "/metrics").body());
            assertThat(metrics.samples("vllm_prompt_tokens_total")).hasSize(expected.size());
            expected.forEach((labels, sums) -> {
                assertThat(metrics.sum("vllm_prompt_tokens_total", labels)).as("prompt %s", labels)
                        .isEqualTo(sums[0]);
                assertThat(metrics.sum("vllm_completion_tokens_total", labels)).as("completion %s", labels)
                        .isEqualTo(sums[1]);
                assertThat(metrics.sum("vllm_total_tokens_total", labels)).as("total %s", labels)
                        .isEqualTo(sums[2]);
                assertThat(metrics.sum("vllm_cached_prompt_tokens_total", labels)).as("cached %s", labels)
                        .isEqualTo(sums[3]);
            });
            expectedRequests(events).forEach((labels, count) ->
                    assertThat(metrics.sum("vllm_requests_total", labels)).as("requests %s", labels)
                            .isEqualTo(count));
            assertThat(metrics.samples("vllm_requests_total").stream().mapToLong(PrometheusText.Sample::longValue)
                    .sum()).isEqualTo(events.size());
            // the latency histograms live in the same store: exact across restarts too
            for (String model : MODELS) {
                for (String client : CLIENTS) {
                    Map<String, String> series = Map.of("namespace", "unknown", "client_name", client, "model", model);
                    assertThat(metrics.sum("vllm_request_duration_seconds_count", series)).as("durations %s", series)
                            .isEqualTo(events.stream().filter(e -> matches(e, client, model)).count());
                    assertThat(metrics.sum("vllm_time_to_first_token_seconds_count", series)).as("ttft %s", series)
                            .isEqualTo(events.stream().filter(e -> matches(e, client, model) && e.stream()).count());
                }
            }
        });
    }

    private static boolean matches(UsageEvent e, String client, String model) {
        return e.clientAddress().equals(client) && e.model().equals(model);
    }

    /** Label set → {prompt, completion, total, cached}, computed from the events as produced. */
    private static Map<Map<String, String>, long[]> expectedTotals(List<UsageEvent> events) {
        Map<Map<String, String>, long[]> sums = new HashMap<>();
        for (UsageEvent e : events) {
            long[] s = sums.computeIfAbsent(labels(e), k -> new long[4]);
            s[0] += e.promptTokens() == null ? 0 : e.promptTokens();
            s[1] += e.completionTokens() == null ? 0 : e.completionTokens();
            s[2] += e.totalTokens() != null ? e.totalTokens()
                    : (e.promptTokens() == null ? 0 : e.promptTokens())
                    + (e.completionTokens() == null ? 0 : e.completionTokens());
            s[3] += e.cachedTokens() == null ? 0 : e.cachedTokens();
        }
        return sums;
    }

    private static Map<Map<String, String>, Long> expectedRequests(List<UsageEvent> events) {
        Map<Map<String, String>, Long> counts = new TreeMap<>((a, b) -> a.toString().compareTo(b.toString()));
        for (UsageEvent e : events) {
            Map<String, String> labels = new TreeMap<>(labels(e));
            labels.put("outcome", e.outcome());
            counts.merge(labels, 1L, Long::sum);
        }
        return counts;
    }

    private static Map<String, String> labels(UsageEvent e) {
        return Map.of("namespace", "unknown", "client_name", e.clientAddress(), "full_path", e.route(),
                "hostname", e.proxyHost(), "model", e.model());
    }

    private List<UsageEvent> events(int n) {
        List<UsageEvent> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long prompt = 1 + random.nextInt(5000);
            long completion = random.nextInt(2000);
            boolean reportsTotal = random.nextInt(4) != 0;
            boolean reportsCached = random.nextBoolean();
            long startedAt = 1_763_800_000_000L + i * 1_000L;
            boolean stream = i % 3 == 0;
            events.add(UsageEvent.builder()
                    .startedAt(startedAt)
                    .firstByteAt(startedAt + 20 + random.nextInt(400))
                    .endedAt(startedAt + 500 + random.nextInt(20_000))
                    .stream(stream)
                    .eventId(UUID.randomUUID().toString())
                    .route(i % 2 == 0 ? "/v1/chat/completions" : "/v1/completions")
                    .method("POST")
                    .status(200)
                    .outcome(OUTCOMES.get(random.nextInt(OUTCOMES.size())))
                    .model(MODELS.get(random.nextInt(MODELS.size())))
                    .clientAddress(CLIENTS.get(i % CLIENTS.size()))
                    .proxyHost("proxy-0")
                    .promptTokens(prompt)
                    .completionTokens(completion)
                    .totalTokens(reportsTotal ? prompt + completion : null)
                    .cachedTokens(reportsCached ? (long) random.nextInt((int) prompt) : null)
                    .build());
        }
        return events;
    }

    private void produce(List<UsageEvent> events) throws Exception {
        try (KafkaProducer<String, UsageEvent> producer = new KafkaProducer<>(producerProps(),
                new StringSerializer(), new UsageEventSerde().serializer())) {
            for (UsageEvent event : events) {
                producer.send(new ProducerRecord<>(topic, event.clientAddress(), event));
            }
            producer.flush();
        }
    }

    private Map<String, Object> producerProps() {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        return props;
    }

    private ConsumerRecord<byte[], byte[]> readDlq(String key) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "dlq-reader-" + applicationId);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(Topics.DLQ));
            List<ConsumerRecord<byte[], byte[]>> found = new ArrayList<>();
            await().atMost(WAIT).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> {
                    if (r.key() != null && key.equals(new String(r.key(), StandardCharsets.UTF_8))) {
                        found.add(r);
                    }
                });
                return !found.isEmpty();
            });
            assertThat(found).hasSize(1);
            return found.get(0);
        }
    }

    /** The first {@code count} committed records of {@code name}, and whatever else arrives meanwhile. */
    private List<ConsumerRecord<byte[], byte[]>> readAll(String name, int count) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "reader-" + name);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<ConsumerRecord<byte[], byte[]>> found = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(name));
            await().atMost(WAIT).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(found::add);
                return found.size() >= count;
            });
        }
        return found;
    }

    private HttpResponse<String> get(Aggregator aggregator, String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + aggregator.port() + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
