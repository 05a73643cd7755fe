package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.SocketException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
    /** Twice the idle timeout: a client trickling bytes faster than the idle timeout is cut by this one. */
    private static final Duration HEADER_TIMEOUT = Duration.ofSeconds(2);
    /** Far above what a trickling client sends, far below what any ordinary client does. */
    private static final long MIN_REQUEST_RATE = 1024;
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
        proxy = TapProxy.start(ProxyConfigs.loopback(simulator.baseUrl(), "--proxy-host", "slow-it",
                "--api-key-hash-secret", "x", "--client-idle-timeout", CLIENT_IDLE.toMillis() + "ms",
                "--client-header-timeout", HEADER_TIMEOUT.toMillis() + "ms",
                "--client-min-request-rate", Long.toString(MIN_REQUEST_RATE)), publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
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
                    () -> sendOnNewConnection(Http.post(base, "/v1/completions", COMPLETION)));

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

        HttpResponse<String> response = sendOnNewConnection(Http.post(base, "/v1/completions", COMPLETION)
                .header("X-Request-Id", id));

        assertThat(response.statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        assertThat(publisher.byRequestId(id).get(0).outcome()).isEqualTo(Outcome.OK);
    }

    @Test
    void shouldCloseAClientTricklingItsHeadersOnceTheHeaderTimeoutPassesWhileServingOthers() throws Exception {
        ScheduledExecutorService trickle = Executors.newSingleThreadScheduledExecutor();
        ExecutorService watcher = Executors.newSingleThreadExecutor();
        try (Socket loris = new Socket("127.0.0.1", proxy.port())) {
            // given a client sending one header byte every 200 ms: never silent for the 1 s idle timeout
            long connected = System.nanoTime();
            OutputStream out = loris.getOutputStream();
            byte[] head = ("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + "a".repeat(500))
                    .getBytes(StandardCharsets.ISO_8859_1);
            AtomicInteger sent = new AtomicInteger();
            trickle.scheduleAtFixedRate(() -> {
                try {
                    out.write(head[Math.min(sent.getAndIncrement(), head.length - 1)]);
                    out.flush();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, 0, 200, TimeUnit.MILLISECONDS);
            loris.setSoTimeout(30_000);
            // noted when it happens, not when the test gets round to looking (after the other client's answer)
            CompletableFuture<Long> closedAt = CompletableFuture.supplyAsync(() -> {
                try {
                    closedByPeer(loris.getInputStream());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                return System.nanoTime();
            }, watcher);

            // when another client asks meanwhile
            HttpResponse<String> other = sendOnNewConnection(Http.post(base, "/v1/completions", COMPLETION));

            // then the other is served, and the trickling connection is closed once its head took 2 s
            assertThat(other.statusCode()).isEqualTo(200);
            Duration open = Duration.ofNanos(closedAt.get(20, TimeUnit.SECONDS) - connected);
            assertThat(open).isBetween(HEADER_TIMEOUT.minusMillis(100), HEADER_TIMEOUT.plusSeconds(3));
            assertThat(sent.get()).isGreaterThan(5);
        } finally {
            trickle.shutdownNow();
            watcher.shutdownNow();
        }
    }

    @Test
    void shouldKeepAKeepAliveConnectionWhoseNextRequestComesQuicklyAfterALongFirstAnswer() throws Exception {
        try (Socket client = new Socket("127.0.0.1", proxy.port())) {
            client.setSoTimeout(30_000);
            String request = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + COMPLETION.length() + "\r\n\r\n" + COMPLETION;

            // the first answer takes 2 s (the simulator's first token), as long as the header timeout
            client.getOutputStream().write((request + request).getBytes(StandardCharsets.ISO_8859_1));
            client.getOutputStream().flush();

            // both pipelined requests are answered on the one connection: the clock is per request head
            String answers = readResponses(client.getInputStream(), 2);
            assertThat(answers.split("HTTP/1.1 200", -1)).hasSize(3);
        }
    }

    @Test
    void shouldCutABodyTrickledBelowTheMinimumRateWithoutForwardingIt() throws Exception {
        String id = "slow-body";
        int before = simulator.received().size();
        ScheduledExecutorService trickle = Executors.newSingleThreadScheduledExecutor();
        try (Socket loris = new Socket("127.0.0.1", proxy.port())) {
            loris.setSoTimeout(30_000);
            OutputStream out = loris.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "X-Request-Id: " + id + "\r\nContent-Length: " + COMPLETION.length() + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            // given a body sent at 5 bytes a second: never silent for the idle timeout, far below the minimum rate
            AtomicInteger sent = new AtomicInteger();
            trickle.scheduleAtFixedRate(() -> {
                try {
                    // all but the last byte: the body never completes by itself
                    int next = sent.getAndIncrement();
                    if (next < COMPLETION.length() - 1) {
                        out.write(COMPLETION.charAt(next));
                        out.flush();
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, 0, 200, TimeUnit.MILLISECONDS);

            // then the proxy answers 408 and closes, records the request as rejected, and vLLM never saw it
            String response = new String(loris.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertThat(response).startsWith("HTTP/1.1 408").contains("\"code\":408");
            await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
            assertThat(publisher.byRequestId(id).get(0).outcome()).isEqualTo(Outcome.REJECTED);
            assertThat(publisher.byRequestId(id).get(0).status()).isEqualTo(408);
            assertThat(simulator.received()).hasSize(before);
        } finally {
            trickle.shutdownNow();
        }
    }

    /**
     * Sends on a connection of its own. This proxy closes a keep-alive connection after 1 s idle, and a pooled
     * connection picked just as it does so fails with no answer ("header parser received no bytes"): on a busy
     * machine, more than a second passes between two tests easily.
     */
    private static HttpResponse<String> sendOnNewConnection(HttpRequest.Builder request) {
        try {
            return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
                    .send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Reads until {@code count} responses with bodies have arrived, by their Content-Length. */
    private static String readResponses(InputStream in, int count) throws IOException {
        StringBuilder all = new StringBuilder();
        for (int i = 0; i < count; i++) {
            StringBuilder head = new StringBuilder();
            while (!head.toString().endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0) {
                    return all.append(head).toString();
                }
                head.append((char) b);
            }
            java.util.regex.Matcher length = java.util.regex.Pattern.compile("(?i)content-length: *(\\d+)")
                    .matcher(head);
            all.append(head);
            if (length.find()) {
                all.append(new String(in.readNBytes(Integer.parseInt(length.group(1))), StandardCharsets.UTF_8));
            }
        }
        return all.toString();
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
