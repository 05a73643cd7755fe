package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** What the client and the usage log see when the upstream is away, falls silent, or the client leaves. */
class UpstreamFailureIT {

    private static final String ERROR_SHAPE =
            "\\{\"error\":\\{\"message\":\"[^\"]+\",\"type\":\"%s\",\"param\":null,\"code\":%d}}";

    /** An upstream that accepts requests and then never answers (nothing is ever released), a stream's headers aside. */
    private static VllmSimulator silent;
    private static TapProxy toNowhere;
    private static TapProxy toSilent;
    private static final RecordingPublisher NOWHERE_EVENTS = new RecordingPublisher();
    private static final RecordingPublisher SLOW_EVENTS = new RecordingPublisher();

    @BeforeAll
    static void start() throws IOException {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        toNowhere = start(URI.create("http://127.0.0.1:" + closedPort), NOWHERE_EVENTS);
        silent = VllmSimulator.builder().stepByStep(true).build().start();
        toSilent = start(URI.create(silent.baseUrl()), SLOW_EVENTS);
    }

    private static TapProxy start(URI upstream, RecordingPublisher publisher) {
        return TapProxy.start(ProxyConfigs.loopback(upstream, "--proxy-host", "failure-it",
                "--api-key-hash-secret", "x", "--connect-timeout", "1s", "--upstream-timeout", "400ms"), publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable closeable : new AutoCloseable[] {toNowhere, toSilent, silent}) {
            try {
                if (closeable != null) {
                    closeable.close();
                }
            } catch (Exception ignored) {
                // best effort
            }
        }
    }

    private static UsageEvent awaitEvent(RecordingPublisher events, String requestId) {
        await().atMost(Duration.ofSeconds(10)).until(() -> !events.byRequestId(requestId).isEmpty());
        List<UsageEvent> found = events.byRequestId(requestId);
        assertThat(found).hasSize(1);
        return found.get(0);
    }

    @Test
    void shouldAnswer502InOpenAiShapeWhenTheUpstreamIsUnreachable() {
        String requestId = UUID.randomUUID().toString();

        HttpResponse<String> response = Http.send(Http.post("http://127.0.0.1:" + toNowhere.port(),
                "/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}")
                .header("X-Request-Id", requestId));

        assertThat(response.statusCode()).isEqualTo(502);
        assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("application/json"));
        assertThat(response.body()).matches(String.format(ERROR_SHAPE, "BadGatewayError", 502));
        UsageEvent event = awaitEvent(NOWHERE_EVENTS, requestId);
        assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_UNREACHABLE);
        assertThat(event.status()).isEqualTo(502);
        assertThat(event.model()).isEqualTo("m");
        assertThat(event.stream()).isTrue();
        assertThat(event.usageSource()).isEqualTo(UsageSource.NONE);
    }

    @Test
    void shouldAnswer502ForUnmeteredRoutesToo() {
        HttpResponse<String> response = Http.get("http://127.0.0.1:" + toNowhere.port() + "/v1/models");

        assertThat(response.statusCode()).isEqualTo(502);
        assertThat(response.body()).matches(String.format(ERROR_SHAPE, "BadGatewayError", 502));
    }

    @Test
    void shouldAnswer504WhenTheUpstreamStaysSilentTooLong() {
        String requestId = UUID.randomUUID().toString();

        HttpResponse<String> response = Http.send(Http.post("http://127.0.0.1:" + toSilent.port(),
                "/v1/completions", "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"slow\",\"max_tokens\":1}")
                .header("X-Request-Id", requestId));

        assertThat(response.statusCode()).isEqualTo(504);
        assertThat(response.body()).matches(String.format(ERROR_SHAPE, "GatewayTimeoutError", 504));
        UsageEvent event = awaitEvent(SLOW_EVENTS, requestId);
        assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_TIMEOUT);
        assertThat(event.status()).isEqualTo(504);
    }

    @Test
    void shouldCutAStreamWhoseUpstreamFallsSilent() throws Exception {
        String requestId = UUID.randomUUID().toString();

        // the simulator sends the headers at once, then nothing
        HttpResponse<InputStream> response = Http.CLIENT.send(Http.post("http://127.0.0.1:" + toSilent.port(),
                "/v1/completions", "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"slow\",\"max_tokens\":3,"
                        + "\"stream\":true}").header("X-Request-Id", requestId).build(),
                HttpResponse.BodyHandlers.ofInputStream());

        assertThat(response.statusCode()).isEqualTo(200);
        try (InputStream body = response.body()) {
            body.readAllBytes();
        } catch (IOException expected) {
            // the proxy cuts the connection: the response cannot be completed
        }
        UsageEvent event = awaitEvent(SLOW_EVENTS, requestId);
        assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_TIMEOUT);
        assertThat(event.status()).isEqualTo(200);
    }

    @Test
    void shouldRecordAClientThatLeavesWhileSendingItsBody() throws Exception {
        String requestId = UUID.randomUUID().toString();
        String head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: 1000\r\nX-Request-Id: " + requestId + "\r\n\r\n";
        String partBody = "{\"model\":\"tokentap/sim-1b\",\"stream\":true,\"messages\":[";

        try (Socket socket = new Socket("127.0.0.1", toSilent.port())) {
            OutputStream out = socket.getOutputStream();
            out.write((head + partBody).getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        UsageEvent event = awaitEvent(SLOW_EVENTS, requestId);
        assertThat(event.outcome()).isEqualTo(Outcome.CLIENT_ABORTED);
        assertThat(event.status()).isEqualTo(499);
        assertThat(event.model()).isEqualTo("tokentap/sim-1b");
    }

    @Test
    void shouldRecordAClientThatLeavesMidStream() throws Exception {
        String requestId = UUID.randomUUID().toString();
        try (VllmSimulator steady = VllmSimulator.builder().itl(Duration.ofMillis(100)).build().start();
             TapProxy proxy = TapProxy.start(ProxyConfigs.loopback(steady.baseUrl(), "--proxy-host", "failure-it",
                     "--api-key-hash-secret", "x"), SLOW_EVENTS, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT))) {

            HttpResponse<InputStream> response = Http.CLIENT.send(Http.post("http://127.0.0.1:" + proxy.port(),
                    "/v1/chat/completions", "{\"model\":\"tokentap/sim-1b\",\"stream\":true,\"max_tokens\":100,"
                            + "\"messages\":[{\"role\":\"user\",\"content\":\"go on\"}]}")
                    .header("X-Request-Id", requestId).build(), HttpResponse.BodyHandlers.ofInputStream());
            try (BufferedReader reader = new BufferedReader(
                    new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
                assertThat(reader.readLine()).startsWith("data: ");
            }

            UsageEvent event = awaitEvent(SLOW_EVENTS, requestId);
            assertThat(event.outcome()).isEqualTo(Outcome.CLIENT_ABORTED);
            assertThat(event.status()).isEqualTo(200);
            // continuous usage: the role chunk already carried the prompt's usage
            assertThat(event.usageSource()).isEqualTo(UsageSource.PARTIAL);
            assertThat(event.promptTokens()).isPositive();
        }
    }
}
