package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.event.Topics;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.proxy.TapProxyConfig;
import dev.tokentap.proxy.publish.SpoolingUsagePublisher;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults injected into a running pipeline (a real broker, the simulator, the proxy with its disk spool, the
 * aggregator), each ending with an exact comparison of the aggregator's {@code /metrics} and the enriched topic
 * with what the clients were answered. Each test prints a {@code FIGURES} line for docs/reliability.md.
 *
 * <p>The broker outage lasts {@code -Dtokentap.outage.seconds} (6 by default; the documented run uses 30).
 */
class FaultInjectionIT {

    static final Duration OUTAGE = Duration.ofSeconds(Long.getLong("tokentap.outage.seconds", 6));
    static final Duration WAIT = Duration.ofSeconds(120);
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path kafkaDir;
    @TempDir
    Path stateDir;
    @TempDir
    Path spoolDir;

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<Aggregator> others = new ArrayList<>();
    private final Set<String> sentRequestIds = new HashSet<>();
    private long promptTokens;
    private long completionTokens;
    private int sequence;
    private EmbeddedKafka kafka;
    private VllmSimulator sim;
    private Aggregator aggregator;
    private TapProxy proxy;
    private SpoolingUsagePublisher publisher;
    private PrometheusMeterRegistry proxyRegistry;

    @BeforeEach
    void startEverything() {
        kafka = EmbeddedKafka.builder().dataDir(kafkaDir).partitions(3).build().start();
        sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1)).build().start();
        aggregator = Aggregator.start(AggregatorConfig.builder()
                .kafka(kafka.bootstrapServers())
                .listen("127.0.0.1")
                .port(0)
                .stateDir(stateDir)
                .topicPartitions(3)
                .kubernetes(AggregatorConfig.KubernetesMode.OFF)
                .build());
        assertThat(aggregator.awaitRunning(WAIT)).isTrue();
        proxy = startProxy();
    }

    private TapProxy startProxy() {
        TapProxyConfig config = TapProxyConfig.builder(URI.create(sim.baseUrl()))
                .kafkaBootstrap(kafka.bootstrapServers())
                .listenHost("127.0.0.1")
                .port(0)
                .adminPort(0)
                .apiKeyHashSecret("fault-injection")
                .proxyHost("tap-faults")
                .spool(new TapProxyConfig.Spool(spoolDir, TapProxyConfig.Spool.DEFAULT_MAX_BYTES))
                .build();
        proxyRegistry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        return TapProxy.start(config, proxyRegistry, metrics -> {
            publisher = SpoolingUsagePublisher.create(config.kafkaBootstrap(), config.topic(), "tap-faults",
                    Map.of(), config.publishQueue(), spoolDir, config.spool().maxBytes(), metrics);
            return publisher;
        });
    }

    @AfterEach
    void stopEverything() {
        if (proxy != null) proxy.close(Duration.ofSeconds(2));
        others.forEach(Aggregator::close);
        if (aggregator != null) aggregator.close();
        if (sim != null) sim.close();
        if (kafka != null) kafka.close();
    }

    @Test
    void shouldCountEveryRequestOnceThroughABrokerOutageUnderLoad() throws Exception {
        // given steady load
        send(20);

        // when the broker stops in the middle of it, the load goes on, and the broker comes back on its data
        kafka.stop();
        long until = System.nanoTime() + OUTAGE.toNanos();
        int duringOutage = 0;
        while (System.nanoTime() < until) {
            send(1);
            duringOutage++;
        }
        kafka.start();
        send(20);

        // then
        awaitExact("broker stopped " + OUTAGE.toSeconds() + " s mid-load, restarted on the same data dir",
                "sent during the outage " + duringOutage);
    }

    @Test
    void shouldReplayTheSpoolOfAProxyKilledWhileKafkaWasDown() throws Exception {
        // given some usage delivered, then the broker goes away and more requests are served
        send(10);
        kafka.stop();
        send(25);
        await().atMost(WAIT).until(() -> proxyMetric("tokentap_proxy_events_spooled_total") == sentRequestIds.size());

        // when the proxy dies without warning, and a new one starts on the same spool once the broker is back
        publisher.halt();
        proxy.close(Duration.ZERO);
        kafka.start();
        proxy = startProxy();
        send(10);

        // then
        awaitExact("proxy killed while the broker was down, a new proxy replays its spool", "");
        long replayed = proxyMetric("tokentap_proxy_events_replayed_total");
        System.out.printf("FIGURES replayed_by_the_new_proxy=%d%n", replayed);
        assertThat(replayed).isGreaterThanOrEqualTo(25);
    }

    @Test
    void shouldKeepTheSumOverTwoAggregatorsExactWhenOneStops(@TempDir Path secondStateDir) throws Exception {
        // given two aggregators sharing the work
        Aggregator second = Aggregator.start(AggregatorConfig.builder()
                .kafka(kafka.bootstrapServers())
                .listen("127.0.0.1")
                .port(0)
                .stateDir(secondStateDir)
                .topicPartitions(3)
                .kubernetes(AggregatorConfig.KubernetesMode.OFF)
                .build());
        others.add(second);
        assertThat(second.awaitRunning(WAIT)).isTrue();
        send(30);
        awaitExact("two aggregators sharing the work", "", List.of(aggregator, second));

        // when one of them stops mid-load and the other takes its partitions over
        second.close();
        others.remove(second);
        send(30);

        // then
        awaitExact("two aggregators, one stopped mid-load (rebalance onto the other)", "", List.of(aggregator));
    }

    /** Sends {@code n} requests from one client, alternating chat and completions, adding up what it was told. */
    private void send(int n) throws IOException, InterruptedException {
        for (int i = 0; i < n; i++) {
            String requestId = "fault-" + (++sequence);
            boolean chat = sequence % 2 == 0;
            String body = chat
                    ? "{\"model\":\"" + sim.models().get(0) + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                            + "\"count me once\"}],\"max_tokens\":" + (1 + sequence % 7) + "}"
                    : "{\"model\":\"" + sim.models().get(0) + "\",\"prompt\":\"count me once please\","
                            + "\"max_tokens\":" + (1 + sequence % 5) + "}";
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                            + proxy.port() + (chat ? "/v1/chat/completions" : "/v1/completions")))
                    .header("Content-Type", "application/json")
                    .header("X-Request-Id", requestId)
                    .timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).isEqualTo(200);
            JsonNode usage = JSON.readTree(response.body()).path("usage");
            promptTokens += usage.path("prompt_tokens").asLong();
            completionTokens += usage.path("completion_tokens").asLong();
            sentRequestIds.add(requestId);
        }
    }

    /** Waits until /metrics and the enriched topic hold exactly what the clients were answered, and prints it. */
    private void awaitExact(String scenario, String note) throws IOException, InterruptedException {
        awaitExact(scenario, note, List.of(aggregator));
    }

    /** As above, with the totals summed over {@code instances}, as Prometheus's sum() would. */
    private void awaitExact(String scenario, String note, List<Aggregator> instances)
            throws IOException, InterruptedException {
        int requests = sentRequestIds.size();
        await().atMost(WAIT).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
            long[] sums = new long[3];
            for (Aggregator instance : instances) {
                PrometheusText metrics = PrometheusText.parse(get("http://127.0.0.1:" + instance.port() + "/metrics"));
                sums[0] += metrics.sum("vllm_requests_total", Map.of());
                sums[1] += metrics.sum("vllm_prompt_tokens_total", Map.of());
                sums[2] += metrics.sum("vllm_completion_tokens_total", Map.of());
            }
            assertThat(sums[0]).isEqualTo(requests);
            assertThat(sums[1]).isEqualTo(promptTokens);
            assertThat(sums[2]).isEqualTo(completionTokens);
        });
        List<String> enriched = enrichedRequestIds(requests);
        assertThat(enriched).hasSize(requests);
        assertThat(new HashSet<>(enriched)).isEqualTo(sentRequestIds);
        // still exact a little later: nothing arrives twice after the fact
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(total(instances, "vllm_requests_total")).isEqualTo(requests));
        long duplicates = total(instances, "tokentap_aggregator_duplicates_total");
        System.out.printf("FIGURES scenario=\"%s\" requests_sent=%d events_counted=%d enriched_records=%d "
                        + "prompt_tokens=%d completion_tokens=%d duplicates_removed=%d lost=%d %s%n", scenario,
                requests, requests, enriched.size(), promptTokens, completionTokens, duplicates, 0, note);
    }

    private long total(List<Aggregator> instances, String name) throws IOException, InterruptedException {
        long sum = 0;
        for (Aggregator instance : instances) {
            sum += PrometheusText.parse(get("http://127.0.0.1:" + instance.port() + "/metrics")).sum(name, Map.of());
        }
        return sum;
    }

    private List<String> enrichedRequestIds(int expected) {
        Map<String, Object> props = new HashMap<>();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "fault-check-" + System.nanoTime());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<String> ids = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
                new StringDeserializer())) {
            consumer.subscribe(List.of(Topics.ENRICHED));
            await().atMost(WAIT).until(() -> {
                consumer.poll(Duration.ofMillis(500)).forEach(r -> {
                    try {
                        ids.add(JSON.readTree(r.value()).path("request_id").asText());
                    } catch (IOException e) {
                        throw new AssertionError(e);
                    }
                });
                return ids.size() >= expected;
            });
            // anything beyond the expected count would be a record counted twice
            consumer.poll(Duration.ofSeconds(1)).forEach(r -> ids.add("unexpected:" + r.key()));
        }
        return ids;
    }

    private long proxyMetric(String name) {
        return PrometheusText.parse(proxyRegistry.scrape()).sum(name, Map.of());
    }

    private String get(String url) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }
}
