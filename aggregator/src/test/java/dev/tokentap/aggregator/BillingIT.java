package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.event.HourlyUsage;
import dev.tokentap.event.HourlyUsageCodec;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Billing on a real broker with two aggregator replicas sharing the work: the usage over a time range asked of either
 * replica is the exact sum of both replicas' parts (interactive queries), the cost counter is exact across both, and
 * once the aggregators' clock passes the hour and its grace, one final hourly record per client, model and route is
 * written to the hourly topic, exact, and a request arriving after that comes in a late record.
 */
class BillingIT {

    @RegisterExtension
    static final KafkaExtension KAFKA = new KafkaExtension();

    static final Duration WAIT = Duration.ofSeconds(120);
    static final long HOUR = Duration.ofHours(1).toMillis();
    static final List<String> CLIENTS = List.of("10.7.0.1", "10.7.0.2", "10.7.0.3", "10.7.0.4", "10.7.0.5",
            "10.7.0.6", "10.7.0.7", "10.7.0.8");
    static final BigDecimal PROMPT_PRICE = new BigDecimal("0.15");
    static final BigDecimal COMPLETION_PRICE = new BigDecimal("0.60");
    static final ObjectMapper JSON = JsonMapper.builder().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .build();

    /** An hour two hours back, so that it lies well inside the retention. */
    final long hour = Math.floorDiv(System.currentTimeMillis(), HOUR) * HOUR - 2 * HOUR;
    final AtomicLong now = new AtomicLong(hour + 50 * 60_000);
    final Clock clock = new Clock() {
        @Override
        public long millis() {
            return now.get();
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(now.get());
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            throw new UnsupportedOperationException();
        }
    };
    private final HttpClient http = HttpClient.newHttpClient();
    private final List<Aggregator> started = new ArrayList<>();
    private TestKafka kafka;

    @AfterEach
    void closeAggregators() {
        started.forEach(Aggregator::close);
    }

    @Test
    void shouldAnswerExactUsageFromEitherReplicaAndWriteEachHourOnce(@TempDir Path dir) throws Exception {
        // given two replicas of one aggregator, with prices for one model of two
        Path prices = Files.writeString(dir.resolve("prices.json"), "{\"currency\":\"USD\",\"prices\":[{"
                + "\"model\":\"llama\",\"effective_from\":\"2020-01-01\",\"prompt_per_million\":\"0.15\","
                + "\"completion_per_million\":0.60}]}");
        Aggregator a = start(dir.resolve("a"), prices);
        Aggregator b = start(dir.resolve("b"), prices);
        assertThat(a.awaitRunning(WAIT)).isTrue();
        assertThat(b.awaitRunning(WAIT)).isTrue();

        // when requests of several clients and two models in one hour are counted
        List<UsageEvent> events = events(240);
        produce(events);
        Map<String, long[]> expected = expectedPerClientAndModel(events);
        String range = "/api/v1/usage?from=" + Instant.ofEpochMilli(hour) + "&to="
                + Instant.ofEpochMilli(hour + HOUR) + "&step=1h&group_by=client_name,model";
        await().atMost(WAIT).pollInterval(Duration.ofMillis(500)).untilAsserted(() ->
                assertThat(requests(get(a, range))).isEqualTo(events.size()));

        // then either replica answers the same, exact usage: each holds only part of it
        JsonNode fromA = JSON.readTree(get(a, range).body());
        JsonNode fromB = JSON.readTree(get(b, range).body());
        assertThat(fromA.path("rows")).isEqualTo(fromB.path("rows"));
        assertThat(perClientAndModel(fromA)).containsExactlyInAnyOrderEntriesOf(expected);
        for (JsonNode row : fromA.path("rows")) {
            if (row.path("model").asText().equals("llama")) {
                assertThat(new BigDecimal(row.path("cost").path("USD").asText())).isEqualByComparingTo(
                        cost(expected.get(row.path("client_name").asText() + "/llama")));
            } else {
                assertThat(row.path("cost").size()).isZero();
                assertThat(row.path("unpriced_requests").asLong()).isEqualTo(row.path("request_count").asLong());
            }
        }
        assertThat(get(a, "/api/v1/usage/local?" + range.substring(range.indexOf('?') + 1)
                + "&partitions=0,1,2,3").statusCode()).as("one replica alone does not hold every partition")
                .isEqualTo(503);
        assertThat(get(a, "/api/v1/usage?from=yesterday&to=" + Instant.ofEpochMilli(hour)).statusCode())
                .isEqualTo(400);

        // and the cost counter, summed over both replicas, is the exact cost
        BigDecimal costOnMetrics = costOn(metrics(a)).add(costOn(metrics(b)));
        BigDecimal expectedCost = expected.entrySet().stream().filter(e -> e.getKey().endsWith("/llama"))
                .map(e -> cost(e.getValue())).reduce(BigDecimal.ZERO, BigDecimal::add);
        assertThat(costOnMetrics.doubleValue()).isCloseTo(expectedCost.doubleValue(),
                org.assertj.core.data.Offset.offset(1e-12));

        // when the aggregators' clock passes the end of the hour and its grace
        now.set(hour + HOUR + Duration.ofMinutes(10).toMillis());

        // then one final record per client, model and route, with exact sums
        Map<String, HourlyUsage> finals = new TreeMap<>();
        List<HourlyUsage> all = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer = hourlyConsumer()) {
            await().atMost(WAIT).pollInterval(Duration.ofMillis(200)).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> all.add(new HourlyUsageCodec().decode(r.value())));
                return all.size() >= expected.size();
            });
            for (HourlyUsage r : all) {
                assertThat(r.kind()).isEqualTo(HourlyUsage.FINAL);
                assertThat(r.hourStart()).isEqualTo(hour);
                assertThat(finals.put(r.clientName() + "/" + r.model(), r)).as("a second record").isNull();
            }
            assertThat(finals.keySet()).isEqualTo(expected.keySet());
            finals.forEach((key, r) -> {
                long[] sums = expected.get(key);
                assertThat(new long[] {r.requestCount(), r.promptTokens(), r.completionTokens()}).as(key)
                        .containsExactly(sums);
                if (r.model().equals("llama")) {
                    assertThat(r.cost().amount("USD")).isEqualByComparingTo(cost(sums));
                } else {
                    assertThat(r.cost()).isNull();
                    assertThat(r.unpricedRequests()).isEqualTo(sums[0]);
                }
            });

            // when a request of that hour arrives after it closed
            UsageEvent lateOne = event(CLIENTS.get(0), "llama", hour + 59 * 60_000, 1000, 100);
            produce(List.of(lateOne));

            // then it comes in a late record of its own, and the range query counts it too
            List<HourlyUsage> late = new ArrayList<>();
            await().atMost(WAIT).pollInterval(Duration.ofMillis(200)).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> late.add(new HourlyUsageCodec().decode(r.value())));
                return !late.isEmpty();
            });
            assertThat(late).singleElement().satisfies(r -> {
                assertThat(r.kind()).isEqualTo(HourlyUsage.LATE);
                assertThat(r.clientName()).isEqualTo(CLIENTS.get(0));
                assertThat(r.promptTokens()).isEqualTo(1000);
                assertThat(r.requestCount()).isEqualTo(1);
            });
            assertThat(requests(get(b, range))).isEqualTo(events.size() + 1);
            assertThat(metrics(a).sum("tokentap_aggregator_hourly_late_events_total", Map.of())
                    + metrics(b).sum("tokentap_aggregator_hourly_late_events_total", Map.of())).isEqualTo(1);
        }
    }

    private Aggregator start(Path stateDir, Path prices) {
        Aggregator aggregator = Aggregator.start(AggregatorConfig.fromArgs(new String[] {
                "--kafka", kafka.bootstrapServers(), "--topic", "usage-billing", "--application-id", "agg-billing",
                "--listen", "127.0.0.1", "--port", "0", "--state-dir", stateDir.toString(),
                "--topic-partitions", "4", "--kubernetes", "off", "--prices", prices.toString()},
                Map.of("TOKENTAP_KAFKA_SESSION_TIMEOUT_MS", "6000")), PodDirectory.NONE, clock);
        started.add(aggregator);
        return aggregator;
    }

    private List<UsageEvent> events(int n) {
        Random random = new Random(7);
        List<UsageEvent> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            events.add(event(CLIENTS.get(i % CLIENTS.size()), i % 3 == 0 ? "qwen" : "llama",
                    hour + random.nextInt(50 * 60_000), 1 + random.nextInt(4000), random.nextInt(900)));
        }
        return events;
    }

    private static UsageEvent event(String client, String model, long startedAt, long prompt, long completion) {
        return UsageEvent.builder().eventId(UUID.randomUUID().toString()).route("/v1/chat/completions")
                .outcome("ok").status(200).model(model).clientAddress(client).proxyHost("proxy-billing")
                .startedAt(startedAt).endedAt(startedAt + 50).promptTokens(prompt).completionTokens(completion)
                .totalTokens(prompt + completion).usageSource("reported").build();
    }

    /** Requests, prompt and completion tokens per client/model. */
    private static Map<String, long[]> expectedPerClientAndModel(List<UsageEvent> events) {
        Map<String, long[]> sums = new TreeMap<>();
        for (UsageEvent e : events) {
            long[] s = sums.computeIfAbsent(e.clientAddress() + "/" + e.model(), k -> new long[3]);
            s[0]++;
            s[1] += e.promptTokens();
            s[2] += e.completionTokens();
        }
        return sums;
    }

    private static Map<String, long[]> perClientAndModel(JsonNode answer) {
        Map<String, long[]> sums = new TreeMap<>();
        for (JsonNode row : answer.path("rows")) {
            long[] s = sums.computeIfAbsent(row.path("client_name").asText() + "/" + row.path("model").asText(),
                    k -> new long[3]);
            s[0] += row.path("request_count").asLong();
            s[1] += row.path("prompt_tokens").asLong();
            s[2] += row.path("completion_tokens").asLong();
        }
        return sums;
    }

    private static BigDecimal cost(long[] sums) {
        return BigDecimal.valueOf(sums[1]).multiply(PROMPT_PRICE).add(BigDecimal.valueOf(sums[2])
                .multiply(COMPLETION_PRICE)).movePointLeft(6);
    }

    private long requests(HttpResponse<String> response) throws Exception {
        if (response.statusCode() != 200) {
            return -1;
        }
        long n = 0;
        for (JsonNode row : JSON.readTree(response.body()).path("rows")) {
            n += row.path("request_count").asLong();
        }
        return n;
    }

    private void produce(List<UsageEvent> events) throws Exception {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, UsageEvent> producer = new KafkaProducer<>(props, new StringSerializer(),
                new UsageEventSerde().serializer())) {
            for (UsageEvent event : events) {
                producer.send(new ProducerRecord<>("usage-billing", event.clientAddress(), event));
            }
            producer.flush();
        }
    }

    private KafkaConsumer<String, byte[]> hourlyConsumer() {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "billing-it");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
                new ByteArrayDeserializer());
        consumer.subscribe(List.of(Topics.HOURLY));
        return consumer;
    }

    private static BigDecimal costOn(PrometheusText metrics) {
        return metrics.samples("vllm_cost_total").stream().map(PrometheusText.Sample::value)
                .reduce(BigDecimal.ZERO, BigDecimal::add);
    }

    private PrometheusText metrics(Aggregator aggregator) throws Exception {
        return PrometheusText.parse(get(aggregator, "/metrics").body());
    }

    private HttpResponse<String> get(Aggregator aggregator, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + aggregator.port() + path))
                .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
