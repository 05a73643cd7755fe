package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.event.Outcome;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import dev.tokentap.testkit.sim.SimTokenizer;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Requests that fail, through real proxies to the broker and the aggregator: the upstream unreachable, too slow,
 * dying mid-stream or failing after its 200, and a request body refused for its size. Each client gets its answer,
 * and each request is counted once with its outcome and exactly the tokens vLLM reported before it failed, on
 * {@code /metrics} and on the enriched topic. One proxy per kind of fault, so its {@code hostname} label holds that
 * fault's tokens alone. Each test prints a {@code FIGURES} line.
 */
class FailedRequestsIT {

    static final String CHAT = "/v1/chat/completions";
    static final String COMPLETIONS = "/v1/completions";
    static final String QUESTION = "Tell me a long story about metering";
    static final String PROMPT = "Once upon a time";
    /** vLLM's error object as the proxy writes it, with the type and code that go with the status. */
    static final String ERROR_JSON =
            "\\{\"error\":\\{\"message\":\"[^\"]+\",\"type\":\"%s\",\"param\":null,\"code\":%d}}";

    @TempDir
    Path kafkaDir;
    @TempDir
    Path stateDir;

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private EmbeddedKafka kafka;
    private VllmSimulator sim;
    private Aggregator aggregator;
    private UsageLedger ledger;
    private String model;

    @BeforeEach
    void startEverything() {
        kafka = EmbeddedKafka.builder().dataDir(kafkaDir).partitions(3).build().start();
        ledger = new UsageLedger(kafka.bootstrapServers());
        sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1)).build().start();
        model = sim.models().get(0);
        aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(), "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", stateDir.toString(), "--topic-partitions", "3", "--kubernetes", "off"));
        assertThat(aggregator.awaitRunning(UsageLedger.WAIT)).isTrue();
    }

    @AfterEach
    void stopEverything() throws Exception {
        for (AutoCloseable closeable : toClose) {
            closeable.close();
        }
        if (aggregator != null) aggregator.close();
        if (sim != null) sim.close();
        if (kafka != null) kafka.close();
    }

    @Test
    void shouldMeterUpstreamFailuresWithTheirOutcomeAndTheTokensReportedBeforeThem() throws Exception {
        // given proxies in front of a port where nothing listens, of a simulator that never answers (its steps are
        // never released, so the proxy's upstream timeout fires however busy the machine), and of a simulator that
        // can be told to fail; and some ordinary traffic
        TapProxy toNowhere = proxy(URI.create("http://127.0.0.1:" + closedPort()), "tap-unreachable",
                "--connect-timeout", "1s");
        VllmSimulator slow = VllmSimulator.builder().host("127.0.0.1").port(0).stepByStep(true).build().start();
        toClose.add(slow);
        TapProxy toSlow = proxy(URI.create(slow.baseUrl()), "tap-slow",
                "--upstream-timeout", "400ms");
        TapProxy toSim = proxy(URI.create(sim.baseUrl()), "tap-sim");
        ledger.send(toSim.port(), "tap-sim", model, 4);

        // when the upstream is unreachable: 502, streamed or not
        for (boolean stream : List.of(false, true)) {
            String id = ledger.nextRequestId();
            HttpResponse<String> response = post(toNowhere, CHAT, chat(5, stream), id, Map.of());
            assertThat(response.statusCode()).isEqualTo(502);
            assertThat(response.body()).matches(String.format(ERROR_JSON, "BadGatewayError", 502));
            ledger.record(id, new UsageLedger.Entry("tap-unreachable", Outcome.UPSTREAM_UNREACHABLE, 0, 0));
        }

        // and silent past the timeout before its answer (504), or before the first event of a stream whose 200
        // already went out (cut); no token was generated in either
        String beforeAnswer = ledger.nextRequestId();
        HttpResponse<String> timedOut = post(toSlow, COMPLETIONS, completion(3, false), beforeAnswer, Map.of());
        assertThat(timedOut.statusCode()).isEqualTo(504);
        assertThat(timedOut.body()).matches(String.format(ERROR_JSON, "GatewayTimeoutError", 504));
        ledger.record(beforeAnswer, new UsageLedger.Entry("tap-slow", Outcome.UPSTREAM_TIMEOUT, 0, 0));
        String silentStream = ledger.nextRequestId();
        Streamed cutForSilence = stream(toSlow, COMPLETIONS, completion(3, true), silentStream, Map.of());
        assertThat(cutForSilence.status()).isEqualTo(200);
        assertThat(cutForSilence.endedInError()).isTrue();
        ledger.record(silentStream, new UsageLedger.Entry("tap-slow", Outcome.UPSTREAM_TIMEOUT, 0, 0));

        // and the engine dies mid-stream, after 7 tokens of a chat and 3 of a completion: the client's stream
        // is cut too, without [DONE], so it cannot pass for a complete answer
        for (String route : List.of(CHAT, COMPLETIONS)) {
            String id = ledger.nextRequestId();
            boolean chat = route.equals(CHAT);
            Streamed died = stream(toSim, route, chat ? chat(50, true) : completion(50, true), id,
                    Map.of(VllmSimulator.FAIL_AFTER_HEADER, chat ? "7" : "3"));
            assertThat(died.status()).isEqualTo(200);
            assertThat(died.body()).contains("data: {").doesNotContain("[DONE]");
            assertThat(died.endedInError()).isTrue();
            long emitted = sim.tokensServed((chat ? "chatcmpl-" : "cmpl-") + id).orElseThrow();
            assertThat(emitted).isEqualTo(chat ? 7 : 3);
            ledger.record(id, new UsageLedger.Entry("tap-sim", Outcome.UPSTREAM_ERROR, promptTokens(route),
                    emitted));
        }

        // and the engine fails a chat stream after 5 tokens with vLLM's error event: passed on, then [DONE]
        String failedAfter200 = ledger.nextRequestId();
        Streamed errorEvent = stream(toSim, CHAT, chat(50, true), failedAfter200,
                Map.of(VllmSimulator.ERROR_AFTER_HEADER, "5"));
        assertThat(errorEvent.status()).isEqualTo(200);
        assertThat(errorEvent.body()).contains("data: {\"error\":{").endsWith("data: [DONE]\n\n");
        assertThat(errorEvent.endedInError()).isFalse();
        ledger.record(failedAfter200, new UsageLedger.Entry("tap-sim", Outcome.UPSTREAM_ERROR, promptTokens(CHAT),
                sim.tokensServed("chatcmpl-" + failedAfter200).orElseThrow()));
        ledger.send(toSim.port(), "tap-sim", model, 4);

        // then each is counted once, with its outcome and the tokens generated before the failure
        ledger.awaitExact("upstream unreachable, timing out, dying mid-stream and failing after its 200", "",
                List.of(metricsUrl()));
    }

    @Test
    void shouldMeterARequestRefusedForItsSizeAsRejected() throws Exception {
        // given a proxy that forwards request bodies up to 1 KiB, and ordinary traffic through it
        TapProxy small = proxy(URI.create(sim.baseUrl()), "tap-small", "--max-request-bytes", "1KiB");
        ledger.send(small.port(), "tap-small", model, 3);

        // when a client sends a bigger one
        String id = ledger.nextRequestId();
        String body = "{\"model\":\"" + model + "\",\"prompt\":\"" + "many words ".repeat(200) + "\","
                + "\"max_tokens\":3}";
        HttpResponse<String> response = post(small, COMPLETIONS, body, id, Map.of());
        ledger.send(small.port(), "tap-small", model, 3);

        // then it is answered 413 without reaching vLLM, and counted once as rejected, with no tokens
        assertThat(body.length()).isGreaterThan(1024);
        assertThat(response.statusCode()).isEqualTo(413);
        assertThat(response.body()).contains("\"error\"").contains("\"code\":413");
        assertThat(sim.received()).noneMatch(r -> id.equals(r.header("X-Request-Id")));
        ledger.record(id, new UsageLedger.Entry("tap-small", Outcome.REJECTED, 0, 0));
        ledger.awaitExact("a request body over --max-request-bytes among ordinary requests", "",
                List.of(metricsUrl()));
    }

    private TapProxy proxy(URI upstream, String hostname, String... flags) {
        List<String> args = new ArrayList<>(List.of("--api-key-hash-secret", "failed-requests",
                "--proxy-host", hostname));
        args.addAll(List.of(flags));
        TapProxy proxy = TapProxy.start(ProxyConfigs.loopback(upstream, kafka.bootstrapServers(),
                args.toArray(String[]::new)));
        toClose.add(proxy);
        return proxy;
    }

    private String chat(int maxTokens, boolean stream) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}],"
                + "\"max_tokens\":" + maxTokens + ",\"stream\":" + stream + "}";
    }

    private String completion(int maxTokens, boolean stream) {
        return "{\"model\":\"" + model + "\",\"prompt\":\"" + PROMPT + "\",\"max_tokens\":" + maxTokens
                + ",\"stream\":" + stream + "}";
    }

    private static long promptTokens(String route) {
        return route.equals(CHAT) ? SimTokenizer.chatPromptTokens(List.of(QUESTION)) : SimTokenizer.countWords(PROMPT);
    }

    private HttpRequest request(TapProxy proxy, String route, String body, String requestId,
                                Map<String, String> headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + route))
                .header("Content-Type", "application/json")
                .header("X-Request-Id", requestId)
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        headers.forEach(request::header);
        return request.build();
    }

    private HttpResponse<String> post(TapProxy proxy, String route, String body, String requestId,
                                      Map<String, String> headers) throws IOException, InterruptedException {
        return http.send(request(proxy, route, body, requestId, headers), HttpResponse.BodyHandlers.ofString());
    }

    /** What a client read of a streamed answer, and whether the answer ended in an error rather than cleanly. */
    record Streamed(int status, String body, boolean endedInError) {
    }

    private Streamed stream(TapProxy proxy, String route, String body, String requestId, Map<String, String> headers)
            throws IOException, InterruptedException {
        HttpResponse<InputStream> response = http.send(request(proxy, route, body, requestId, headers),
                HttpResponse.BodyHandlers.ofInputStream());
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        boolean endedInError = false;
        try (InputStream in = response.body()) {
            in.transferTo(read);
        } catch (IOException e) {
            endedInError = true;
        }
        return new Streamed(response.statusCode(), read.toString(StandardCharsets.UTF_8), endedInError);
    }

    private String metricsUrl() {
        return "http://127.0.0.1:" + aggregator.port() + "/metrics";
    }

    private static int closedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
