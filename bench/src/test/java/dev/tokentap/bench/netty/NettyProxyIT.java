package dev.tokentap.bench.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.event.UsageSource;
import dev.tokentap.proxy.ProxyMetrics;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.proxy.TapProxyConfig;
import dev.tokentap.proxy.publish.UsagePublisher;
import dev.tokentap.proxy.usage.ApiKeyHasher;
import dev.tokentap.proxy.usage.RequestBodyRewriter;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.sim.ReceivedRequest;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.ServerSocket;
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
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The experimental Netty path is correct before it is measured: between a client and the vLLM simulator, with
 * tap-proxy's spooling publisher sending to the in-process broker, it forwards what the upstream sends byte for
 * byte (with the usage it asked for stripped back out) and publishes the exchange's usage.
 */
@ExtendWith(KafkaExtension.class)
class NettyProxyIT {

    private static final String TOPIC = "tokentap.usage.netty-it";
    private static final String MODEL = "tokentap/sim-1b";
    private static final String CHAT = "{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Say hello to the proxy\"}],\"max_tokens\":5,\"user\":\"alice\"}";
    private static final String STREAMED_CHAT = "{\"stream\":true," + CHAT.substring(1);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    static Path spool;

    private static VllmSimulator simulator;
    private static UsagePublisher publisher;
    private static NettyProxy proxy;
    private static KafkaConsumer<String, UsageEvent> consumer;
    private static final List<UsageEvent> events = new ArrayList<>();
    private static String base;

    @BeforeAll
    static void start(TestKafka kafka) throws InterruptedException {
        kafka.createTopic(TOPIC, 1);
        simulator = VllmSimulator.builder().build().start();
        proxy = startProxy(simulator.baseUrl(), kafka, spool.resolve("spool"));
        base = "http://127.0.0.1:" + proxy.port();
        Map<String, Object> properties = new HashMap<>(kafka.clientProperties());
        properties.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        consumer = new KafkaConsumer<>(properties, new StringDeserializer(),
                new UsageEventSerde.UsageEventDeserializer());
        consumer.assign(List.of(new TopicPartition(TOPIC, 0)));
        consumer.seekToBeginning(consumer.assignment());
    }

    private static NettyProxy startProxy(String upstream, TestKafka kafka, Path spoolDir)
            throws InterruptedException {
        TapProxyConfig config = TapProxyConfig.fromArgs("--upstream", upstream, "--kafka", kafka.bootstrapServers(),
                "--topic", TOPIC, "--listen", "127.0.0.1", "--port", "0", "--admin-port", "0",
                "--spool-dir", spoolDir.toString(), "--proxy-host", "netty-it", "--api-key-hash-secret", "it-secret");
        ProxyMetrics metrics = new ProxyMetrics(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
        publisher = TapProxy.publisher(config, metrics);
        return NettyProxy.start(config, publisher, metrics,
                new ApiKeyHasher("it-secret".getBytes(StandardCharsets.UTF_8)), 2);
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (publisher != null) {
            publisher.close(Duration.ofSeconds(5));
        }
        if (simulator != null) {
            simulator.close();
        }
        if (consumer != null) {
            consumer.close();
        }
    }

    @Test
    void shouldForwardAStreamedChatByteForByteAndPublishItsUsage() throws Exception {
        // given
        String requestId = UUID.randomUUID().toString();
        HttpResponse<String> expected = post(simulator.baseUrl(), STREAMED_CHAT, requestId);

        // when
        HttpResponse<String> response = post(base, STREAMED_CHAT, requestId);

        // then
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("text/event-stream"));
        assertThat(response.body()).doesNotContain("\"usage\"").endsWith("data: [DONE]\n\n");
        assertThat(withoutCreated(response.body())).isEqualTo(withoutCreated(expected.body()));
        ReceivedRequest forwarded = simulator.received().stream()
                .filter(r -> requestId.equals(r.header("X-Request-Id"))).reduce((a, b) -> b).orElseThrow();
        assertThat(forwarded.bodyText()).isEqualTo(STREAMED_CHAT.substring(0, STREAMED_CHAT.length() - 1)
                + "," + RequestBodyRewriter.INJECTED_STREAM_OPTIONS + "}");

        UsageEvent event = awaitEvent(requestId);
        assertThat(event.route()).isEqualTo("/v1/chat/completions");
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.status()).isEqualTo(200);
        assertThat(event.stream()).isTrue();
        assertThat(event.usageSource()).isEqualTo(UsageSource.REPORTED);
        // 4 per message + 5 words; 5 generated
        assertThat(event.promptTokens()).isEqualTo(9L);
        assertThat(event.completionTokens()).isEqualTo(5L);
        assertThat(event.totalTokens()).isEqualTo(14L);
        assertThat(event.model()).isEqualTo(MODEL);
        assertThat(event.responseId()).isEqualTo("chatcmpl-" + requestId);
        assertThat(event.user()).isEqualTo("alice");
        assertThat(event.proxyHost()).isEqualTo("netty-it");
        assertThat(event.firstByteAt()).isBetween(event.startedAt(), event.endedAt());
    }

    @Test
    void shouldForwardAChatAnswerByteForByteAndPublishItsUsage() throws Exception {
        // given
        String requestId = UUID.randomUUID().toString();
        HttpResponse<String> expected = post(simulator.baseUrl(), CHAT, requestId);

        // when
        HttpResponse<String> response = post(base, CHAT, requestId);

        // then
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(withoutCreated(response.body())).isEqualTo(withoutCreated(expected.body()));
        assertThat(response.headers().firstValueAsLong("content-length"))
                .hasValue(response.body().getBytes(StandardCharsets.UTF_8).length);
        UsageEvent event = awaitEvent(requestId);
        assertThat(event.stream()).isFalse();
        assertThat(event.promptTokens()).isEqualTo(9L);
        assertThat(event.completionTokens()).isEqualTo(5L);
        assertThat(event.usageSource()).isEqualTo(UsageSource.REPORTED);
    }

    @Test
    void shouldAnswerOpenAisErrorAndPublishWhenTheUpstreamIsUnreachable(TestKafka kafka, @TempDir Path dir)
            throws Exception {
        // given: an upstream port nothing listens on
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        UsagePublisher shared = publisher;
        NettyProxy unreachable = startProxy("http://127.0.0.1:" + closedPort, kafka, dir.resolve("spool"));
        UsagePublisher own = publisher;
        publisher = shared;
        String requestId = UUID.randomUUID().toString();
        try {
            // when
            HttpResponse<String> response = post("http://127.0.0.1:" + unreachable.port(), CHAT, requestId);

            // then
            assertThat(response.statusCode()).isEqualTo(502);
            assertThat(response.body()).startsWith("{\"error\":{\"message\":").contains("\"code\":502");
            UsageEvent event = awaitEvent(requestId);
            assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_UNREACHABLE);
            assertThat(event.status()).isEqualTo(502);
            assertThat(event.model()).isEqualTo(MODEL);
        } finally {
            unreachable.close();
            own.close(Duration.ofSeconds(5));
        }
    }

    private static HttpResponse<String> post(String base, String json, String requestId)
            throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .header("Content-Type", "application/json").header("X-Request-Id", requestId)
                .POST(HttpRequest.BodyPublishers.ofString(json)).timeout(Duration.ofSeconds(20)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static UsageEvent awaitEvent(String requestId) {
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            for (ConsumerRecord<String, UsageEvent> record : consumer.poll(Duration.ofMillis(200))) {
                events.add(record.value());
            }
            return events.stream().anyMatch(e -> requestId.equals(e.requestId()));
        });
        List<UsageEvent> found = events.stream().filter(e -> requestId.equals(e.requestId())).toList();
        assertThat(found).as("events of request %s", requestId).hasSize(1);
        return found.get(0);
    }

    private static String withoutCreated(String body) {
        return body.replaceAll("\"created\":\\d+", "\"created\":0");
    }
}
