package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.CloudEventHeaders;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageSource;
import dev.tokentap.proxy.usage.RequestBodyRewriter;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.sim.ReceivedRequest;
import dev.tokentap.testkit.sim.VllmSimulator;
import dev.tokentap.testkit.metrics.PrometheusText;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The proxy between a client and the vLLM simulator, publishing to the in-process Kafka broker. */
@ExtendWith(KafkaExtension.class)
class TapProxyIT {

    private static final String TOPIC = "tokentap.usage.it";
    private static final String MODEL = "tokentap/sim-1b";
    private static final String CHAT = "{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Say hello to the proxy\"}],\"max_tokens\":5,\"user\":\"alice\"}";
    private static final String COMPLETION = "{\"model\":\"" + MODEL + "\",\"prompt\":\"The capital of France is\","
            + "\"max_tokens\":4}";

    private static VllmSimulator simulator;
    private static TapProxy proxy;
    private static UsageLog log;
    private static String base;

    @BeforeAll
    static void start(TestKafka kafka) {
        kafka.createTopic(TOPIC, 1);
        simulator = VllmSimulator.builder().cachedTokens(3).build().start();
        proxy = TapProxy.start(ProxyConfigs.loopback(simulator.baseUrl(), "--kafka", kafka.bootstrapServers(),
                "--topic", TOPIC, "--proxy-host", "proxy-it-0", "--api-key-hash-secret", "it-secret",
                "--tenant-header", "X-Tenant-Id",
                // the test's client plays the gateway that authenticated the caller
                "--trusted-proxies", "127.0.0.1"));
        base = "http://127.0.0.1:" + proxy.port();
        log = new UsageLog(kafka, TOPIC);
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (simulator != null) {
            simulator.close();
        }
        if (log != null) {
            log.close();
        }
    }

    private static String newRequestId() {
        return UUID.randomUUID().toString();
    }

    private static HttpResponse<String> direct(String path, String json, String requestId) {
        return Http.send(Http.post(simulator.baseUrl(), path, json).header("X-Request-Id", requestId));
    }

    private static HttpResponse<String> proxied(String path, String json, String requestId) {
        return Http.send(Http.post(base, path, json).header("X-Request-Id", requestId));
    }

    private static ReceivedRequest receivedBySimulator(String requestId) {
        return simulator.received().stream()
                .filter(r -> requestId.equals(r.header("X-Request-Id")))
                .reduce((first, second) -> second)
                .orElseThrow();
    }

    @Test
    void shouldForwardANonStreamingChatByteForByteAndPublishItsExactUsage() {
        String requestId = newRequestId();

        HttpResponse<String> expected = direct("/v1/chat/completions", CHAT, requestId);
        HttpResponse<String> response = Http.send(Http.post(base, "/v1/chat/completions", CHAT)
                .header("X-Request-Id", requestId)
                .header("Authorization", "Bearer sk-live-secret-token")
                .header("X-Tenant-Id", "team-a")
                .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(Http.withoutCreated(response.body())).isEqualTo(Http.withoutCreated(expected.body()));
        assertThat(response.headers().firstValueAsLong("content-length"))
                .hasValue(response.body().getBytes(StandardCharsets.UTF_8).length);

        ConsumerRecord<String, UsageEvent> record = log.awaitOne(requestId);
        UsageEvent event = record.value();
        assertThat(record.key()).isEqualTo("127.0.0.1");
        assertThat(event.route()).isEqualTo("/v1/chat/completions");
        assertThat(event.method()).isEqualTo("POST");
        assertThat(event.status()).isEqualTo(200);
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.model()).isEqualTo(MODEL);
        assertThat(event.responseModel()).isEqualTo(MODEL);
        assertThat(event.responseId()).isEqualTo("chatcmpl-" + requestId);
        assertThat(event.stream()).isFalse();
        // 4 per message + 5 words; 5 generated
        assertThat(event.promptTokens()).isEqualTo(9L);
        assertThat(event.completionTokens()).isEqualTo(5L);
        assertThat(event.totalTokens()).isEqualTo(14L);
        assertThat(event.cachedTokens()).isEqualTo(3L);
        assertThat(event.usageSource()).isEqualTo(UsageSource.REPORTED);
        assertThat(event.user()).isEqualTo("alice");
        assertThat(event.tenant()).isEqualTo("team-a");
        assertThat(event.traceId()).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
        assertThat(event.spanId()).isEqualTo("00f067aa0ba902b7");
        assertThat(event.apiKeyId()).hasSize(64);
        assertThat(event.clientAddress()).isEqualTo("127.0.0.1");
        assertThat(event.proxyHost()).isEqualTo("proxy-it-0");
        assertThat(event.upstream()).isEqualTo(URI.create(simulator.baseUrl()).getRawAuthority());
        assertThat(event.eventId()).isNotBlank();
        assertThat(UUID.fromString(event.eventId()).version()).isEqualTo(7);
        assertThat(event.startedAt()).isPositive();
        assertThat(event.firstByteAt()).isBetween(event.startedAt(), event.endedAt());
        assertThat(new String(new UsageEventCodec().encode(event), StandardCharsets.UTF_8))
                .doesNotContain("sk-live-secret-token");

        assertThat(CloudEventHeaders.read(record.headers(), CloudEventHeaders.SPEC_VERSION)).isEqualTo("1.0");
        assertThat(CloudEventHeaders.read(record.headers(), CloudEventHeaders.ID)).isEqualTo(event.eventId());
        assertThat(CloudEventHeaders.read(record.headers(), CloudEventHeaders.SOURCE))
                .isEqualTo("tokentap/proxy-it-0");
        assertThat(CloudEventHeaders.read(record.headers(), CloudEventHeaders.TYPE))
                .isEqualTo("dev.tokentap.usage.v1");
        assertThat(CloudEventHeaders.read(record.headers(), CloudEventHeaders.TIME)).isNotBlank();
        assertThat(CloudEventHeaders.read(record.headers(), CloudEventHeaders.CONTENT_TYPE))
                .isEqualTo("application/json");
    }

    @Test
    void shouldForwardANonStreamingCompletionByteForByteAndPublishItsExactUsage() {
        String requestId = newRequestId();

        HttpResponse<String> expected = direct("/v1/completions", COMPLETION, requestId);
        HttpResponse<String> response = proxied("/v1/completions", COMPLETION, requestId);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(Http.withoutCreated(response.body())).isEqualTo(Http.withoutCreated(expected.body()));
        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(event.route()).isEqualTo("/v1/completions");
        assertThat(event.responseId()).isEqualTo("cmpl-" + requestId);
        assertThat(event.promptTokens()).isEqualTo(5L);
        assertThat(event.completionTokens()).isEqualTo(4L);
        assertThat(event.totalTokens()).isEqualTo(9L);
        assertThat(event.apiKeyId()).isNull();
        assertThat(event.tenant()).isNull();
    }

    @Test
    void shouldAskForUsageAndStripItWhenAStreamingChatClientDidNot() {
        assertStreamMeteredAndStripped("/v1/chat/completions", "{\"stream\":true," + CHAT.substring(1), 9, 5);
    }

    @Test
    void shouldAskForUsageAndStripItWhenAStreamingCompletionClientDidNot() {
        assertStreamMeteredAndStripped("/v1/completions", "{\"stream\":true," + COMPLETION.substring(1), 5, 4);
    }

    private void assertStreamMeteredAndStripped(String route, String body, long prompt, long completion) {
        assertThat(body).doesNotContain("stream_options").contains("\"stream\":true");
        String requestId = newRequestId();

        HttpResponse<String> expected = direct(route, body, requestId);
        HttpResponse<String> response = proxied(route, body, requestId);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("text/event-stream"));
        assertThat(response.body()).doesNotContain("\"usage\":{").endsWith("data: [DONE]\n\n");
        assertThat(Http.withoutCreated(response.body())).isEqualTo(Http.withoutCreated(expected.body()));
        ReceivedRequest forwarded = receivedBySimulator(requestId);
        assertThat(forwarded.bodyJson().path("stream_options").path("include_usage").asBoolean()).isTrue();
        assertThat(forwarded.bodyText()).isEqualTo(body.substring(0, body.length() - 1)
                + "," + RequestBodyRewriter.INJECTED_STREAM_OPTIONS + "}");
        assertThat(forwarded.header("Accept-Encoding")).isNull();

        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(event.stream()).isTrue();
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.usageSource()).isEqualTo(UsageSource.REPORTED);
        assertThat(event.promptTokens()).isEqualTo(prompt);
        assertThat(event.completionTokens()).isEqualTo(completion);
        assertThat(event.totalTokens()).isEqualTo(prompt + completion);
        assertThat(event.firstByteAt()).isNotNull();
    }

    @Test
    void shouldInjectIntoALargeBodyThatArrivesInManyPieces() {
        // two long words: 200 KB of body, but a prompt that fits the simulator's context
        String words = "lorem".repeat(20_000) + " " + "ipsum".repeat(20_000);
        String body = "{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + words
                + "\"}],\"max_tokens\":3,\"stream\":true}";
        String requestId = newRequestId();

        HttpResponse<String> response = proxied("/v1/chat/completions", body, requestId);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).doesNotContain("\"usage\"");
        assertThat(receivedBySimulator(requestId).bodyText()).isEqualTo(body.substring(0, body.length() - 1)
                + "," + RequestBodyRewriter.INJECTED_STREAM_OPTIONS + "}");
        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(event.promptTokens()).isEqualTo(4L + 2L);
        assertThat(event.completionTokens()).isEqualTo(3L);
    }

    @Test
    void shouldAskForTheRunningUsageTooWhenTheClientAskedForItsUsage() {
        String body = "{\"stream\":true,\"stream_options\":{\"include_usage\":true}," + COMPLETION.substring(1);
        String requestId = newRequestId();

        HttpResponse<String> expected = direct("/v1/completions", body, requestId);
        HttpResponse<String> response = proxied("/v1/completions", body, requestId);

        assertThat(response.body()).contains("\"choices\":[],\"usage\":{\"prompt_tokens\":5");
        assertThat(Http.withoutCreated(response.body())).isEqualTo(Http.withoutCreated(expected.body()));
        assertThat(receivedBySimulator(requestId).bodyText()).isEqualTo(body.substring(0, body.length() - 1)
                + ",\"stream_options\":{\"include_usage\":true,\"include_usage\":true,"
                + "\"continuous_usage_stats\":true}}");
        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(event.usageSource()).isEqualTo(UsageSource.REPORTED);
        assertThat(event.completionTokens()).isEqualTo(4L);
    }

    @Test
    void shouldLeaveStreamOptionsAloneWhenTheClientAskedForAllTheProxyWould() {
        String body = "{\"stream\":true,\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true},"
                + COMPLETION.substring(1);
        String requestId = newRequestId();

        HttpResponse<String> expected = direct("/v1/completions", body, requestId);
        HttpResponse<String> response = proxied("/v1/completions", body, requestId);

        assertThat(Http.withoutCreated(response.body())).isEqualTo(Http.withoutCreated(expected.body()));
        assertThat(receivedBySimulator(requestId).bodyText()).isEqualTo(body);
        assertThat(log.awaitOne(requestId).value().completionTokens()).isEqualTo(4L);
    }

    @Test
    void shouldPublishAnUpstreamErrorWithTheErrorBodyPassedThrough() {
        String requestId = newRequestId();
        String body = "{\"model\":\"no-such-model\",\"prompt\":\"x\"}";

        HttpResponse<String> expected = direct("/v1/completions", body, requestId);
        HttpResponse<String> response = proxied("/v1/completions", body, requestId);

        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(response.body()).isEqualTo(expected.body());
        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(event.status()).isEqualTo(404);
        assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_ERROR);
        assertThat(event.model()).isEqualTo("no-such-model");
        assertThat(event.usageSource()).isEqualTo(UsageSource.NONE);
    }

    @Test
    void shouldGenerateARequestIdAndPassItUpstreamWhenTheClientSentNone() {
        String marker = UUID.randomUUID().toString();
        String body = COMPLETION.replace("France", "France " + marker);

        HttpResponse<String> response = Http.send(Http.post(base, "/v1/completions", body));

        assertThat(response.statusCode()).isEqualTo(200);
        ReceivedRequest forwarded = simulator.received().stream()
                .filter(r -> r.bodyText().contains(marker)).findFirst().orElseThrow();
        String generated = forwarded.header("X-Request-Id");
        assertThat(generated).isNotBlank();
        assertThat(forwarded.header("X-Forwarded-For")).isEqualTo("127.0.0.1");
        assertThat(forwarded.header("X-Forwarded-Proto")).isEqualTo("http");
        assertThat(forwarded.header("X-Forwarded-Host")).isEqualTo("127.0.0.1:" + proxy.port());
        assertThat(forwarded.header("Via")).contains("proxy-it-0");
        UsageEvent event = log.awaitOne(generated).value();
        assertThat(event.responseId()).isEqualTo("cmpl-" + generated);
        assertThat(event.promptTokens()).isEqualTo(6L);
    }

    @Test
    void shouldMeterANonCanonicalSpellingOfAMeteredRoute() {
        String requestId = newRequestId();

        HttpResponse<String> response = proxied("//v1/./chat/completions", CHAT, requestId);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(receivedBySimulator(requestId).path()).isEqualTo("/v1/chat/completions");
        assertThat(log.awaitOne(requestId).value().route()).isEqualTo("/v1/chat/completions");
    }

    @Test
    void shouldForwardOtherRoutesAndMethodsUntouchedWithoutPublishing() {
        String requestId = newRequestId();

        HttpResponse<String> models = Http.send(java.net.http.HttpRequest.newBuilder(
                URI.create(base + "/v1/models?verbose=1")).header("X-Request-Id", requestId).GET());
        HttpResponse<String> health = Http.get(base + "/health");
        HttpResponse<String> missing = Http.get(base + "/metrics");

        assertThat(models.statusCode()).isEqualTo(200);
        assertThat(models.body()).contains("\"id\":\"" + MODEL + "\"");
        assertThat(receivedBySimulator(requestId).query()).isEqualTo("verbose=1");
        assertThat(health.statusCode()).isEqualTo(200);
        // the proxy port serves nothing itself: /metrics goes upstream too
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(simulator.received().stream().map(ReceivedRequest::path)).contains("/metrics");
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(PrometheusText.parse(
                Http.get("http://127.0.0.1:" + proxy.adminPort() + "/metrics").body())
                .sum("tokentap_proxy_requests_total", Map.of("route", "other", "outcome", "ok")))
                .isGreaterThanOrEqualTo(2L));
        assertThat(log.records()).noneMatch(r -> requestId.equals(r.value().requestId()));
    }

    @Test
    void shouldServeMetricsHealthAndReadinessOnTheAdminPort() {
        String admin = "http://127.0.0.1:" + proxy.adminPort();
        proxied("/v1/completions", COMPLETION, newRequestId());

        HttpResponse<String> metrics = Http.get(admin + "/metrics");

        assertThat(Http.get(admin + "/healthz").statusCode()).isEqualTo(200);
        assertThat(Http.get(admin + "/readyz").statusCode()).isEqualTo(200);
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.headers().firstValue("content-type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("text/plain"));
        // an exchange is counted when it completes on the proxy's side, which can be just after the client has read
        // the last byte
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(PrometheusText.parse(
                Http.get(admin + "/metrics").body()).sum("tokentap_proxy_requests_total",
                Map.of("route", "/v1/completions", "outcome", "ok"))).isPositive());
        PrometheusText text = PrometheusText.parse(Http.get(admin + "/metrics").body());
        assertThat(text.samples("tokentap_proxy_upstream_latency_seconds_count")).isNotEmpty();
        assertThat(text.samples("tokentap_proxy_publish_queue_size")).hasSize(1);
        assertThat(text.samples("tokentap_proxy_publish_failures_total")).extracting(s -> s.labels().get("reason"))
                .containsExactlyInAnyOrder("queue_full", "kafka_error", "shutdown");
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(PrometheusText.parse(
                Http.get(admin + "/metrics").body()).sum("tokentap_proxy_events_published_total", Map.of()))
                .isPositive());
        assertThat(text.samples("jvm_memory_used_bytes")).isNotEmpty();
    }

    @Test
    void shouldPublishOneEventPerMeteredRequest() {
        List<String> ids = List.of(newRequestId(), newRequestId(), newRequestId());

        ids.forEach(id -> assertThat(proxied("/v1/completions", COMPLETION, id).statusCode()).isEqualTo(200));

        // awaitOne fails on a duplicate
        ids.forEach(log::awaitOne);
    }
}
