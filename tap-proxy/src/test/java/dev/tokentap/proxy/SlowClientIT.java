package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Clients that stall: a connection silent for longer than {@code --client-idle-timeout} while the proxy waits to
 * read from it is closed, others are served meanwhile, and a client waiting longer than that for a slow answer is
 * not cut.
 */
class SlowClientIT {

    private static final Duration CLIENT_IDLE = Duration.ofSeconds(1);
    /** Longer than the client idle timeout: the proxy must not cut a client waiting for the first token. */
    private static final Duration TTFT = Duration.ofSeconds(2);
    private static final String COMPLETION = "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"slow\",\"max_tokens\":2}";

    private static VllmSimulator simulator;
    private static RecordingPublisher publisher;
    private static TapProxy proxy;
    private static String base;

    @BeforeAll
    static void start() {
        simulator = VllmSimulator.builder().host("127.0.0.1").port(0).ttft(TTFT).build().start();
        publisher = new RecordingPublisher();
        proxy = TapProxy.start(TapProxyConfig.builder(URI.create(simulator.baseUrl()))
                .listenHost("127.0.0.1").port(0).adminPort(0).proxyHost("slow-it").apiKeyHashSecret("x")
                .clientIdleTimeout(CLIENT_IDLE).build(), publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
        base = "http://127.0.0.1:" + proxy.port();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        simulator.close();
    }

    @Test
    void shouldCloseAClientThatStallsInItsRequestLineWhileServingOthers() throws Exception {
        try (Socket loris = new Socket("127.0.0.1", proxy.port())) {
            // given a client that sends half a request line and then nothing
            loris.getOutputStream().write("POST /v1/compl".getBytes(StandardCharsets.ISO_8859_1));
            loris.getOutputStream().flush();
            loris.setSoTimeout(30_000);

            // when another client asks meanwhile
            CompletableFuture<HttpResponse<String>> other = CompletableFuture.supplyAsync(
                    () -> Http.send(Http.post(base, "/v1/completions", COMPLETION)));

            // then the stalled connection is closed by the proxy, and the other client is served
            await().atMost(Duration.ofSeconds(20)).until(() -> closedByPeer(loris.getInputStream()));
            assertThat(other.get().statusCode()).isEqualTo(200);
        }
    }

    @Test
    void shouldCloseAClientThatStallsInItsHeaders() throws Exception {
        try (Socket loris = new Socket("127.0.0.1", proxy.port())) {
            loris.getOutputStream().write("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a"
                    .getBytes(StandardCharsets.ISO_8859_1));
            loris.getOutputStream().flush();
            loris.setSoTimeout(30_000);

            await().atMost(Duration.ofSeconds(20)).until(() -> closedByPeer(loris.getInputStream()));
        }
    }

    @Test
    void shouldNotCutAClientWaitingLongerThanTheIdleTimeoutForAnAnswer() {
        String id = "slow-ttft";

        HttpResponse<String> response = Http.send(Http.post(base, "/v1/completions", COMPLETION)
                .header("X-Request-Id", id));

        assertThat(response.statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        assertThat(publisher.byRequestId(id).get(0).outcome()).isEqualTo(Outcome.OK);
    }

    /** Reads until the peer closes: true at end of stream or reset, whatever the proxy wrote first. */
    private static boolean closedByPeer(InputStream in) throws Exception {
        try {
            while (true) {
                if (in.read() < 0) {
                    return true;
                }
            }
        } catch (SocketException e) {
            return true;
        }
    }
}
