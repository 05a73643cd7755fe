package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.aggregator.topology.JsonSerde;
import dev.tokentap.aggregator.topology.UsageLabels;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.aggregator.topology.UsageValues;
import dev.tokentap.event.EnrichedUsageEventCodec;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import java.io.IOException;
import java.math.BigDecimal;
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
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Records no proxy should write, straight into the usage log of a real broker: usage values that cannot be true,
 * totals an older version saved negative, and events from clocks years off. The counters never fall, {@code
 * /metrics} keeps answering, and every request is counted once.
 */
class AggregatorBadInputIT {

    @RegisterExtension
    static final KafkaExtension KAFKA = new KafkaExtension();

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String CLIENT = "10.3.0.1";

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<Aggregator> started = new ArrayList<>();
    private TestKafka kafka;
    private String topic;
    private String applicationId;

    @AfterEach
    void closeAggregators() {
        started.forEach(Aggregator::close);
    }

    @Test
    void shouldCountRequestsWithInvalidUsageWithoutTheirUsageWhileMetricsKeepsAnsweringAndNeverFalls(
            TestInfo test, @TempDir Path stateDir) throws Exception {
        // given: an aggregator counting, and a scraper watching every counter sample
        name(test);
        Aggregator aggregator = start(stateDir);
        Scraper scraper = new Scraper(aggregator);
        List<String> valid = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            valid.add(send(event(UUID.randomUUID().toString(), "\"prompt_tokens\":100,\"completion_tokens\":10,"
                    + "\"total_tokens\":110")));
        }
        awaitRequests(aggregator, 5);

        // when: usage that cannot be true arrives, among more ordinary events
        Map<String, String> bad = Map.of(
                "\"prompt_tokens\":-1000,\"completion_tokens\":10", UsageValues.NEGATIVE,
                "\"prompt_tokens\":1.5,\"completion_tokens\":10", UsageValues.FRACTIONAL,
                "\"prompt_tokens\":\"abc\"", UsageValues.NOT_A_NUMBER,
                "\"prompt_tokens\":1e30,\"total_tokens\":1e30", UsageValues.TOO_LARGE,
                "\"prompt_tokens\":9223372036854775807,\"total_tokens\":9223372036854775807", UsageValues.TOO_LARGE,
                "\"usage_source\":\"invalid\",\"prompt_tokens\":100", UsageValues.FLAGGED);
        Set<String> badIds = ConcurrentHashMap.newKeySet();
        bad.keySet().forEach(usage -> badIds.add(send(event(UUID.randomUUID().toString(), usage))));
        // the same wrapped value twice: once it made the totals wrap to -2
        badIds.add(send(event(UUID.randomUUID().toString(), "\"prompt_tokens\":9223372036854775807")));
        for (int i = 0; i < 5; i++) {
            valid.add(send(event(UUID.randomUUID().toString(), "\"prompt_tokens\":100,\"completion_tokens\":10,"
                    + "\"total_tokens\":110")));
        }

        // then: every request counted, only the valid usage added
        awaitRequests(aggregator, 10 + badIds.size());
        PrometheusText metrics = PrometheusText.parse(get(aggregator, "/metrics").body());
        assertThat(metrics.sum("vllm_prompt_tokens_total", Map.of())).isEqualTo(1000);
        assertThat(metrics.sum("vllm_completion_tokens_total", Map.of())).isEqualTo(100);
        assertThat(metrics.sum("vllm_total_tokens_total", Map.of())).isEqualTo(1100);
        // the metric counts processing attempts: a task retried under exactly-once may count an event again
        assertThat(metrics.sum("tokentap_aggregator_invalid_usage_total", Map.of())).isGreaterThanOrEqualTo(7);
        for (String reason : Set.copyOf(bad.values())) {
            assertThat(metrics.sum("tokentap_aggregator_invalid_usage_total", Map.of("reason", reason)))
                    .as(reason).isPositive();
        }
        // and the scraper never saw a failed scrape or a counter fall
        scraper.stop();
        assertThat(scraper.scrapes.get()).isGreaterThan(3);
        assertThat(scraper.problems).isEmpty();
        // the enriched topic carries each request, the invalid ones marked and without usage values
        Map<String, UsageEvent> enriched = readEnriched(badIds.size() + valid.size(), badIds, valid);
        badIds.forEach(id -> {
            assertThat(enriched.get(id).usageSource()).as(id).isEqualTo(UsageValues.INVALID_SOURCE);
            assertThat(enriched.get(id).promptTokens()).as(id).isNull();
        });
        valid.forEach(id -> assertThat(enriched.get(id).promptTokens()).isEqualTo(100));
        System.out.printf("FIGURES invalid_usage valid_events=%d invalid_events=%d requests_counted=%d "
                        + "prompt_tokens=%d invalid_usage_total=%d scrapes=%d scrape_problems=%d enriched=%d%n",
                valid.size(), badIds.size(), metrics.sum("vllm_requests_total", Map.of()),
                metrics.sum("vllm_prompt_tokens_total", Map.of()),
                metrics.sum("tokentap_aggregator_invalid_usage_total", Map.of()), scraper.scrapes.get(),
                scraper.problems.size(), enriched.size());
    }

    @Test
    void shouldServeTotalsAnOlderVersionSavedNegativeAfterARestartAndCountOn(TestInfo test, @TempDir Path stateDir)
            throws Exception {
        // given: one event counted, and the aggregator stopped
        name(test);
        Aggregator first = start(stateDir);
        send(event(UUID.randomUUID().toString(), "\"prompt_tokens\":390,\"completion_tokens\":10"));
        awaitRequests(first, 1);
        first.close();

        // when: the saved totals of its label set are what an older version left after adding -1000 prompt tokens
        // and wrapping its total (the changelog is what a restart restores from)
        UsageLabels labels = new UsageLabels("unknown", CLIENT, "/v1/chat/completions", "proxy-0", "llama");
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(), new ByteArraySerializer(),
                new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(applicationId + "-" + UsageTopology.TOTALS_STORE + "-changelog", 0,
                    JsonSerde.labels().serializer().serialize("t", labels),
                    ("{\"prompt_tokens\":-610,\"completion_tokens\":10,\"total_tokens\":-2,\"cached_tokens\":0,"
                            + "\"requests\":{\"ok\":2},\"duration\":{\"counts\":[],\"sum_ms\":0},"
                            + "\"ttft\":{\"counts\":[],\"sum_ms\":0}}").getBytes(StandardCharsets.UTF_8))).get();
        }
        Aggregator second = start(stateDir);

        // then: /metrics answers, with the negative totals read as 0, and counts on from there
        await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
            HttpResponse<String> scrape = get(second, "/metrics");
            assertThat(scrape.statusCode()).isEqualTo(200);
            assertThat(PrometheusText.parse(scrape.body()).sum("vllm_requests_total", Map.of())).isEqualTo(2);
        });
        PrometheusText healed = PrometheusText.parse(get(second, "/metrics").body());
        assertThat(healed.sum("vllm_prompt_tokens_total", Map.of())).isZero();
        assertThat(healed.sum("vllm_total_tokens_total", Map.of())).isZero();
        send(event(UUID.randomUUID().toString(), "\"prompt_tokens\":7,\"completion_tokens\":3"));
        awaitRequests(second, 3);
        PrometheusText after = PrometheusText.parse(get(second, "/metrics").body());
        assertThat(after.sum("vllm_prompt_tokens_total", Map.of())).isEqualTo(7);
        assertThat(after.sum("vllm_total_tokens_total", Map.of())).isEqualTo(10);
        assertThat(get(second, "/readyz").statusCode()).isEqualTo(200);
    }

    @Test
    void shouldNotSayReadyWhileMetricsCannotBeRendered(TestInfo test, @TempDir Path stateDir) throws Exception {
        // given: one event counted, and the aggregator stopped
        name(test);
        Aggregator first = start(stateDir);
        send(event(UUID.randomUUID().toString(), "\"prompt_tokens\":1"));
        awaitRequests(first, 1);
        first.close();

        // when: the saved totals of a label set are something no version of the aggregator wrote
        UsageLabels labels = new UsageLabels("unknown", "10.3.0.9", "/v1/chat/completions", "proxy-0", "llama");
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(), new ByteArraySerializer(),
                new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(applicationId + "-" + UsageTopology.TOTALS_STORE + "-changelog", 0,
                    JsonSerde.labels().serializer().serialize("t", labels),
                    "{\"prompt_tokens\": not totals".getBytes(StandardCharsets.UTF_8))).get();
        }
        Aggregator second = start(stateDir);
        assertThat(second.awaitRunning(WAIT)).isTrue();

        // then: /metrics says it cannot render them, and /readyz does not say ready
        await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
            HttpResponse<String> scrape = get(second, "/metrics");
            assertThat(scrape.statusCode()).isEqualTo(503);
            assertThat(scrape.body()).contains("totals store not readable");
            assertThat(get(second, "/readyz").statusCode()).isEqualTo(503);
        });
        assertThat(get(second, "/healthz").statusCode()).isEqualTo(200);
    }

    @Test
    void shouldCountEveryEventOnceWhateverTheClockOfTheProxyThatSentIt(TestInfo test, @TempDir Path stateDir)
            throws Exception {
        // given: an event from a proxy whose clock is ten years ahead
        name(test);
        Aggregator aggregator = start(stateDir);
        long now = System.currentTimeMillis();
        long tenYearsAhead = now + Duration.ofDays(3653).toMillis();
        send(event(UUID.randomUUID().toString(), "\"started_at\":" + tenYearsAhead + ",\"ended_at\":"
                + (tenYearsAhead + 900) + ",\"prompt_tokens\":1"));

        // when: five events from sound clocks are each published twice, and so is a three-day-old one, with the
        // record timestamp of the day it was first sent
        for (int i = 0; i < 5; i++) {
            String id = UUID.randomUUID().toString();
            String usage = "\"started_at\":" + System.currentTimeMillis() + ",\"prompt_tokens\":10";
            send(event(id, usage));
            send(event(id, usage));
        }
        long threeDaysAgo = now - Duration.ofDays(3).toMillis();
        String old = event(UUID.randomUUID().toString(), "\"started_at\":" + threeDaysAgo + ",\"prompt_tokens\":100");
        send(old, threeDaysAgo);
        send(old, threeDaysAgo);

        // then: seven requests, each counted once, and six copies dropped
        await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
            PrometheusText metrics = PrometheusText.parse(get(aggregator, "/metrics").body());
            assertThat(metrics.sum("tokentap_aggregator_duplicates_total", Map.of())).isGreaterThanOrEqualTo(6);
            assertThat(metrics.sum("vllm_requests_total", Map.of())).isEqualTo(7);
        });
        PrometheusText metrics = PrometheusText.parse(get(aggregator, "/metrics").body());
        assertThat(metrics.sum("vllm_prompt_tokens_total", Map.of())).isEqualTo(1 + 5 * 10 + 100);
        System.out.printf("FIGURES bad_clocks events=7 copies=6 requests_counted=%d duplicates_total=%d%n",
                metrics.sum("vllm_requests_total", Map.of()),
                metrics.sum("tokentap_aggregator_duplicates_total", Map.of()));
    }

    /** Scrapes /metrics every 100 ms, noting any answer but 200 and any counter sample lower than before. */
    private final class Scraper {
        final List<String> problems = new CopyOnWriteArrayList<>();
        final AtomicInteger scrapes = new AtomicInteger();
        private final Map<String, BigDecimal> last = new HashMap<>();
        private final ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor();

        Scraper(Aggregator aggregator) {
            executor.scheduleWithFixedDelay(() -> {
                try {
                    HttpResponse<String> scrape = get(aggregator, "/metrics");
                    scrapes.incrementAndGet();
                    if (scrape.statusCode() != 200) {
                        problems.add("status " + scrape.statusCode() + ": " + scrape.body());
                        return;
                    }
                    for (PrometheusText.Sample sample : PrometheusText.parse(scrape.body()).samples()) {
                        if (sample.name().startsWith("vllm_") && sample.name().endsWith("_total")) {
                            String series = sample.name() + sample.labels();
                            BigDecimal before = last.put(series, sample.value());
                            if (before != null && sample.value().compareTo(before) < 0) {
                                problems.add(series + " fell from " + before + " to " + sample.value());
                            }
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    problems.add(e.toString());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, 0, 100, TimeUnit.MILLISECONDS);
        }

        void stop() throws InterruptedException {
            executor.shutdown();
            assertThat(executor.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        }
    }

    private Map<String, UsageEvent> readEnriched(int count, Set<String> badIds, List<String> valid) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "enriched-reader-" + applicationId);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        EnrichedUsageEventCodec codec = new EnrichedUsageEventCodec();
        Map<String, UsageEvent> found = new HashMap<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(Topics.ENRICHED));
            await().atMost(WAIT).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> {
                    UsageEvent event = codec.decode(r.value()).event();
                    if (badIds.contains(event.eventId()) || valid.contains(event.eventId())) {
                        assertThat(found.put(event.eventId(), event)).as("enriched twice").isNull();
                    }
                });
                return found.size() == count;
            });
        }
        return found;
    }

    private void name(TestInfo test) {
        String id = test.getTestMethod().orElseThrow().getName().replaceAll("[^A-Za-z0-9]", "").toLowerCase();
        topic = "usage-" + id;
        applicationId = "agg-" + id;
    }

    private Aggregator start(Path stateDir) {
        Aggregator aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(),
                "--topic", topic, "--application-id", applicationId, "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", stateDir.toString(), "--topic-partitions", "1", "--kubernetes", "off"));
        started.add(aggregator);
        return aggregator;
    }

    private void awaitRequests(Aggregator aggregator, long requests) {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).untilAsserted(() ->
                assertThat(PrometheusText.parse(get(aggregator, "/metrics").body())
                        .sum("vllm_requests_total", Map.of())).isEqualTo(requests));
    }

    /** A usage record as a proxy would write it, with {@code usage} as its usage fields. */
    private static String event(String id, String usage) {
        return "{\"event_id\":\"" + id + "\",\"schema_version\":1,\"route\":\"/v1/chat/completions\","
                + "\"method\":\"POST\",\"status\":200,\"outcome\":\"ok\",\"model\":\"llama\",\"client_address\":\""
                + CLIENT + "\",\"proxy_host\":\"proxy-0\",\"usage_source\":\"reported\"," + usage + "}";
    }

    /** Publishes {@code json} and returns its event id. */
    private String send(String json) {
        return send(json, null);
    }

    private String send(String json, Long timestamp) {
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerProps(),
                new org.apache.kafka.common.serialization.StringSerializer(), new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(topic, null, timestamp, CLIENT,
                    json.getBytes(StandardCharsets.UTF_8))).get();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return json.substring(json.indexOf("\"event_id\":\"") + 12, json.indexOf("\",\"schema_version\""));
    }

    private Map<String, Object> producerProps() {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        return props;
    }

    private HttpResponse<String> get(Aggregator aggregator, String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + aggregator.port() + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
