package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.proxy.usage.RequestBodyRewriter;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Streams that end before vLLM's final usage chunk: the client goes away, the engine dies, or it sends an error
 * event after the 200. The proxy asked for continuous usage, so each event still says how far the stream got.
 */
@ExtendWith(KafkaExtension.class)
class EarlyEndIT {

    private static final String TOPIC = "tokentap.usage.early-end";
    private static final String MODEL = "tokentap/sim-1b";
    private static final String CHAT = "{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Tell me a long story\"}],\"max_tokens\":%d,\"stream\":true}";

    private static VllmSimulator slow;
    private static VllmSimulator fast;
    private static TapProxy slowProxy;
    private static TapProxy fastProxy;
    private static TapProxy untouchedProxy;
    private static UsageLog log;

    @BeforeAll
    static void start(TestKafka kafka) {
        kafka.createTopic(TOPIC, 1);
        // slow enough that the client can leave mid-stream; the stream would take 20 s in full
        slow = VllmSimulator.builder().itl(Duration.ofMillis(100)).build().start();
        fast = VllmSimulator.builder().build().start();
        slowProxy = proxy(kafka, slow, true);
        fastProxy = proxy(kafka, fast, true);
        untouchedProxy = proxy(kafka, fast, false);
        log = new UsageLog(kafka, TOPIC);
    }

    private static TapProxy proxy(TestKafka kafka, VllmSimulator upstream, boolean continuousUsage) {
        return TapProxy.start(ProxyConfigs.loopback(upstream.baseUrl(), "--kafka", kafka.bootstrapServers(),
                "--topic", TOPIC, "--proxy-host", "proxy-early-end", "--continuous-usage",
                Boolean.toString(continuousUsage)));
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable c : new AutoCloseable[] {slowProxy, fastProxy, untouchedProxy, slow, fast, log}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    // best effort
                }
            }
        }
    }

    @Test
    void shouldPublishTheLastRunningUsageWhenTheClientGoesAwayMidStream() throws IOException {
        String requestId = UUID.randomUUID().toString();
        String body = CHAT.formatted(200);

        String seen;
        try (Socket socket = new Socket("127.0.0.1", slowProxy.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "X-Request-Id: " + requestId + "\r\nContent-Length: "
                    + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            seen = readUntil(socket.getInputStream(), "\"content\":\"" + "", 4);
        }

        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(seen).doesNotContain("usage");
        assertThat(event.outcome()).isEqualTo(Outcome.CLIENT_ABORTED);
        assertThat(event.usageSource()).isEqualTo(UsageSource.PARTIAL);
        assertThat(event.promptTokens()).isEqualTo(9L);
        assertThat(event.completionTokens()).isBetween(3L, 199L);
        assertThat(event.totalTokens()).isEqualTo(event.promptTokens() + event.completionTokens());
        assertThat(event.completionTokensReported()).isTrue();
    }

    @Test
    void shouldPublishTheLastRunningUsageWhenTheUpstreamDiesMidStream() {
        String requestId = UUID.randomUUID().toString();

        HttpResponse<String> response = Http.sendLenient(Http.post("http://127.0.0.1:" + fastProxy.port(),
                "/v1/chat/completions", CHAT.formatted(50))
                .header("X-Request-Id", requestId).header(VllmSimulator.FAIL_AFTER_HEADER, "7"));

        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(response == null || !response.body().contains("[DONE]")).isTrue();
        assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_ERROR);
        assertThat(event.usageSource()).isEqualTo(UsageSource.PARTIAL);
        assertThat(event.completionTokens()).isEqualTo(7L);
        assertThat(event.promptTokens()).isEqualTo(9L);
    }

    @Test
    void shouldAddUpEveryChoicesRunningUsageWhenAStreamWithSeveralChoicesDies() {
        String requestId = UUID.randomUUID().toString();
        String body = CHAT.formatted(50).replace("\"stream\":true", "\"stream\":true,\"n\":2");

        Http.sendLenient(Http.post("http://127.0.0.1:" + fastProxy.port(), "/v1/chat/completions", body)
                .header("X-Request-Id", requestId).header(VllmSimulator.FAIL_AFTER_HEADER, "7"));

        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(event.usageSource()).isEqualTo(UsageSource.PARTIAL);
        assertThat(event.promptTokens()).isEqualTo(9L);
        assertThat(event.completionTokens()).isEqualTo(14L);
        assertThat(event.totalTokens()).isEqualTo(23L);
    }

    @Test
    void shouldPublishPartialUsageForAnErrorEventAfterTheStreamStarted() {
        String requestId = UUID.randomUUID().toString();
        String proxied = "http://127.0.0.1:" + fastProxy.port();

        HttpResponse<String> response = Http.send(Http.post(proxied, "/v1/chat/completions", CHAT.formatted(50))
                .header("X-Request-Id", requestId).header(VllmSimulator.ERROR_AFTER_HEADER, "5"));
        HttpResponse<String> direct = Http.send(Http.post(fast.baseUrl(), "/v1/chat/completions",
                CHAT.formatted(50)).header("X-Request-Id", requestId).header(VllmSimulator.ERROR_AFTER_HEADER, "5"));

        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(Http.withoutCreated(response.body())).isEqualTo(Http.withoutCreated(direct.body()))
                .contains("{\"error\":{").endsWith("data: [DONE]\n\n");
        assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_ERROR);
        assertThat(event.usageSource()).isEqualTo(UsageSource.PARTIAL);
        assertThat(event.completionTokens()).isEqualTo(5L);
    }

    @Test
    void shouldAskForTheFinalUsageOnlyWhenContinuousUsageIsTurnedOff() {
        String requestId = UUID.randomUUID().toString();
        String proxied = "http://127.0.0.1:" + untouchedProxy.port();

        HttpResponse<String> response = Http.send(Http.post(proxied, "/v1/chat/completions", CHAT.formatted(6))
                .header("X-Request-Id", requestId));
        HttpResponse<String> direct = Http.send(Http.post(fast.baseUrl(), "/v1/chat/completions",
                CHAT.formatted(6)).header("X-Request-Id", requestId));

        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(Http.withoutCreated(response.body())).isEqualTo(Http.withoutCreated(direct.body()));
        String forwarded = fast.received().stream()
                .filter(r -> requestId.equals(r.header("X-Request-Id"))).findFirst().orElseThrow().bodyText();
        assertThat(forwarded).endsWith("," + RequestBodyRewriter.INJECTED_INCLUDE_USAGE + "}");
        assertThat(event.usageSource()).isEqualTo(UsageSource.REPORTED);
        assertThat(event.completionTokens()).isEqualTo(6L);
    }

    /** Reads the response until {@code marker} was seen {@code times} times; returns what was read. */
    private static String readUntil(InputStream in, String marker, int times) throws IOException {
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        byte[] buffer = new byte[4096];
        int n;
        while ((n = in.read(buffer)) > 0) {
            read.write(buffer, 0, n);
            String text = read.toString(StandardCharsets.UTF_8);
            if (text.split("\"content\":", -1).length - 1 >= times) {
                return text;
            }
        }
        return read.toString(StandardCharsets.UTF_8);
    }
}
