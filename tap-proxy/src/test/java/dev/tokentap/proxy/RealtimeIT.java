package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import io.javalin.Javalin;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * vLLM's realtime API ({@code WS /v1/realtime}) through the proxy: a real WebSocket upstream on a local port replays
 * the frames of the golden fixture {@code vllm-fixtures/current/realtime.response.jsonl}, made with vLLM's own
 * pydantic event classes at commit 52a31ccecca203effd490a5b496dc5f8d9496654 (speech_to_text/realtime/connection.py,
 * protocol.py), and a real client ({@code java.net.http.WebSocket}) speaks to it through the proxy.
 */
class RealtimeIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String API_KEY = "sk-realtime-secret";
    private static final String FIXTURE = "/vllm-fixtures/current/realtime.response.jsonl";

    /** The fixture's frames in order: who sent each one and its text. */
    record Step(boolean fromServer, String text) {
    }

    private final List<Step> script = readScript();
    private final Map<String, String> upstreamHeaders = new ConcurrentHashMap<>();
    private final List<String> upstreamReceived = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Integer> upstreamClosedWith = new CompletableFuture<>();
    private final RecordingPublisher publisher = new RecordingPublisher();
    /** The script index of the server frame after which the upstream drops the connection; -1 never. */
    private volatile int dropAfterServerFrame = -1;
    private Javalin upstream;
    private TapProxy proxy;

    @BeforeEach
    void start() {
        upstream = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.routes.ws("/v1/realtime", ws -> {
                ws.onConnect(ctx -> {
                    ctx.headerMap().forEach((k, v) -> upstreamHeaders.put(k.toLowerCase(), v));
                    sendServerFramesFrom(ctx, 0);
                });
                ws.onMessage(ctx -> {
                    upstreamReceived.add(ctx.message());
                    // after the n-th client frame of the script, the server frames that follow it in the script
                    sendServerFramesFrom(ctx, indexOfClientFrame(upstreamReceived.size()) + 1);
                });
                ws.onClose(ctx -> upstreamClosedWith.complete(ctx.status()));
            });
        }).start("127.0.0.1", 0);
    }

    private void startProxy(String... more) {
        List<String> args = new ArrayList<>(List.of("--proxy-host", "proxy-realtime", "--api-key-hash-secret",
                "realtime-hash-secret"));
        args.addAll(List.of(more));
        proxy = TapProxy.start(ProxyConfigs.loopback("http://127.0.0.1:" + upstream.port(),
                args.toArray(String[]::new)), publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        upstream.stop();
    }

    @Test
    void shouldPassARealtimeSessionThroughAndPublishItsSummedUsageOnClose() throws Exception {
        // given
        startProxy();
        Client client = new Client();
        WebSocket socket = client.connect(proxy.port(), "Bearer " + API_KEY);

        // when the client says all it says in the fixture and has heard all vLLM says
        for (Step step : script) {
            if (!step.fromServer()) {
                socket.sendText(step.text(), true).get(10, TimeUnit.SECONDS);
            }
        }
        List<String> expected = script.stream().filter(Step::fromServer).map(Step::text).toList();
        await().atMost(Duration.ofSeconds(20)).until(() -> client.received.size() >= expected.size());
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(10, TimeUnit.SECONDS);

        // then every frame went through unchanged, both ways, with the client's key and the proxy's headers
        assertThat(client.received).containsExactlyElementsOf(expected);
        await().atMost(Duration.ofSeconds(10)).until(() -> upstreamReceived.size() == clientFrameCount());
        assertThat(upstreamReceived).containsExactlyElementsOf(
                script.stream().filter(s -> !s.fromServer()).map(Step::text).toList());
        assertThat(upstreamHeaders).containsEntry("authorization", "Bearer " + API_KEY)
                .containsEntry("x-forwarded-for", "127.0.0.1").containsKey("x-request-id");
        assertThat(upstreamClosedWith.get(10, TimeUnit.SECONDS)).isEqualTo(WebSocket.NORMAL_CLOSURE);

        // and one event for the session, with the sum of the two transcription.done usages
        UsageEvent event = awaitOneEvent();
        JsonNode manifestUsage = manifestUsage();
        assertThat(event.route()).isEqualTo("/v1/realtime");
        assertThat(event.method()).isEqualTo("GET");
        assertThat(event.status()).isEqualTo(101);
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.usageSource()).isEqualTo(UsageSource.REPORTED);
        assertThat(event.promptTokens()).isEqualTo(manifestUsage.get("prompt_tokens").asLong()).isEqualTo(60);
        assertThat(event.completionTokens()).isEqualTo(manifestUsage.get("completion_tokens").asLong())
                .isEqualTo(9);
        assertThat(event.totalTokens()).isEqualTo(manifestUsage.get("total_tokens").asLong()).isEqualTo(69);
        assertThat(event.model()).isEqualTo(JSON.readTree(script.get(1).text()).get("model").asText());
        assertThat(event.responseId()).isEqualTo(JSON.readTree(script.get(0).text()).get("id").asText());
        assertThat(event.requestId()).isEqualTo(upstreamHeaders.get("x-request-id"));
        assertThat(event.clientAddress()).isEqualTo("127.0.0.1");
        assertThat(event.apiKeyId()).isNotBlank().doesNotContain(API_KEY);
        assertThat(event.firstByteAt()).isNotNull().isGreaterThanOrEqualTo(event.startedAt());
        assertThat(event.endedAt()).isGreaterThanOrEqualTo(event.firstByteAt());
        assertThat(event.upstream()).isEqualTo("127.0.0.1:" + upstream.port());
    }

    @Test
    void shouldSayTheUpstreamFailedAndKeepTheUsageOfFinishedGenerationsWhenItDropsMidGeneration()
            throws Exception {
        // given an upstream that drops the connection, without a close frame, right after the first delta of the
        // session's second generation
        int firstDone = indexOf("transcription.done", 0);
        dropAfterServerFrame = indexOf("transcription.delta", firstDone);
        startProxy();
        Client client = new Client();
        WebSocket socket = client.connect(proxy.port(), "Bearer " + API_KEY);

        // when
        for (Step step : script) {
            if (!step.fromServer() && !client.closedWith.isDone()) {
                socket.sendText(step.text(), true).exceptionally(x -> null).get(10, TimeUnit.SECONDS);
            }
        }

        // then the client is told the gateway failed, and the event carries the finished generation only
        assertThat(client.closedWith.get(20, TimeUnit.SECONDS)).isEqualTo(1014);
        UsageEvent event = awaitOneEvent();
        JsonNode usage = JSON.readTree(script.get(firstDone).text()).get("usage");
        assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_ERROR);
        assertThat(event.usageSource()).isEqualTo(UsageSource.PARTIAL);
        assertThat(event.promptTokens()).isEqualTo(usage.get("prompt_tokens").asLong());
        assertThat(event.completionTokens()).isEqualTo(usage.get("completion_tokens").asLong());
        assertThat(event.totalTokens()).isEqualTo(usage.get("total_tokens").asLong()).isEqualTo(47);
    }

    @Test
    void shouldSayTheClientAbortedWhenItLeavesWithoutClosing() throws Exception {
        // given
        startProxy();
        Client client = new Client();
        WebSocket socket = client.connect(proxy.port(), "Bearer " + API_KEY);
        socket.sendText(script.get(1).text(), true).get(10, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> upstreamReceived.size() == 1);

        // when the client drops its connection
        socket.abort();

        // then the upstream is closed too, and the session's event says the client went away, with no usage
        assertThat(upstreamClosedWith.get(20, TimeUnit.SECONDS)).isNotNull();
        UsageEvent event = awaitOneEvent();
        assertThat(event.outcome()).isEqualTo(Outcome.CLIENT_ABORTED);
        assertThat(event.usageSource()).isEqualTo(UsageSource.NONE);
        assertThat(event.promptTokens()).isNull();
        assertThat(event.model()).isEqualTo(JSON.readTree(script.get(1).text()).get("model").asText());
    }

    @Test
    void shouldAnswer502InOpenAiShapeAndPublishWhenTheUpstreamIsUnreachable() throws Exception {
        // given a proxy whose upstream port has nothing listening
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        proxy = TapProxy.start(ProxyConfigs.loopback("http://127.0.0.1:" + closedPort, "--proxy-host", "p"),
                publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));

        // when / then
        assertThatThrownBy(() -> new Client().connect(proxy.port(), null))
                .isInstanceOf(ExecutionException.class)
                .cause().isInstanceOfSatisfying(WebSocketHandshakeException.class, e -> {
                    assertThat(e.getResponse().statusCode()).isEqualTo(502);
                    assertThat((String) e.getResponse().body()).contains("\"error\"");
                });
        UsageEvent event = awaitOneEvent();
        assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_UNREACHABLE);
        assertThat(event.status()).isEqualTo(502);
        assertThat(event.usageSource()).isEqualTo(UsageSource.NONE);
    }

    @Test
    void shouldCloseSessionsStillOpenAfterTheDrainAsGoingAwayAndPublishThem() throws Exception {
        // given a session with one finished generation, still open
        startProxy("--drain-timeout", "1s");
        Client client = new Client();
        WebSocket socket = client.connect(proxy.port(), "Bearer " + API_KEY);
        for (int i = 1; i <= 3; i++) {
            socket.sendText(script.get(i).text(), true).get(10, TimeUnit.SECONDS);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> client.received.stream()
                .anyMatch(text -> text.contains("transcription.done")));

        // when
        proxy.close();

        // then both sides were told the proxy is going away, and the session's usage was published
        assertThat(client.closedWith.get(10, TimeUnit.SECONDS)).isEqualTo(1001);
        assertThat(upstreamClosedWith.get(10, TimeUnit.SECONDS)).isEqualTo(1001);
        UsageEvent event = awaitOneEvent();
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.usageSource()).isEqualTo(UsageSource.REPORTED);
        assertThat(event.totalTokens()).isEqualTo(47);
    }

    @Test
    void shouldLetASessionFinishWhileTheProxyDrains() throws Exception {
        // given a session with one finished generation, still open
        startProxy("--drain-timeout", "20s");
        Client client = new Client();
        WebSocket socket = client.connect(proxy.port(), "Bearer " + API_KEY);
        int secondCommit = indexOfNthClientFrame(script, 4);
        for (int i = 1; i < secondCommit; i++) {
            if (!script.get(i).fromServer()) {
                socket.sendText(script.get(i).text(), true).get(10, TimeUnit.SECONDS);
            }
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> client.received.size() == secondCommit - 3);

        // when the proxy begins to stop, and the client then runs its second generation and closes
        int port = proxy.port();
        CompletableFuture<Void> stopped = CompletableFuture.runAsync(proxy::close);
        await().atMost(Duration.ofSeconds(10)).until(() -> isRefused(port));
        for (int i = secondCommit; i < script.size(); i++) {
            if (!script.get(i).fromServer()) {
                socket.sendText(script.get(i).text(), true).get(10, TimeUnit.SECONDS);
            }
        }
        long expected = script.stream().filter(Step::fromServer).count();
        await().atMost(Duration.ofSeconds(20)).until(() -> client.received.size() == expected);
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(10, TimeUnit.SECONDS);

        // then the session ended as the client ended it, whole, before the proxy stopped
        stopped.get(20, TimeUnit.SECONDS);
        assertThat(client.closedWith.get(10, TimeUnit.SECONDS)).isEqualTo(WebSocket.NORMAL_CLOSURE);
        UsageEvent event = awaitOneEvent();
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.totalTokens()).isEqualTo(69);
    }

    private static boolean isRefused(int port) {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", port)) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    private UsageEvent awaitOneEvent() {
        await().atMost(Duration.ofSeconds(20)).until(() -> !publisher.events().isEmpty());
        assertThat(publisher.events()).hasSize(1);
        return publisher.events().get(0);
    }

    /** The script index of the first server frame of {@code type} at or after {@code from}. */
    private int indexOf(String type, int from) {
        for (int i = from; i < script.size(); i++) {
            if (script.get(i).fromServer() && script.get(i).text().contains("\"type\":\"" + type + "\"")) {
                return i;
            }
        }
        throw new AssertionError("no " + type + " in the fixture after " + from);
    }

    private int clientFrameCount() {
        return (int) script.stream().filter(s -> !s.fromServer()).count();
    }

    /** The index in the script of the n-th client frame (1-based). */
    private int indexOfClientFrame(int n) {
        return indexOfNthClientFrame(script, n);
    }

    private static int indexOfNthClientFrame(List<Step> script, int n) {
        int seen = 0;
        for (int i = 0; i < script.size(); i++) {
            if (!script.get(i).fromServer() && ++seen == n) {
                return i;
            }
        }
        return script.size();
    }

    private void sendServerFramesFrom(io.javalin.websocket.WsContext ctx, int from) {
        for (int i = from; i < script.size() && script.get(i).fromServer(); i++) {
            ctx.send(script.get(i).text());
            if (i == dropAfterServerFrame) {
                ctx.session.disconnect();
                return;
            }
        }
    }

    private static List<Step> readScript() {
        List<Step> steps = new ArrayList<>();
        for (String line : resource(FIXTURE).split("\n")) {
            if (!line.isBlank()) {
                try {
                    JsonNode node = JSON.readTree(line);
                    steps.add(new Step("server".equals(node.get("from").asText()), node.get("text").asText()));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        return steps;
    }

    private static JsonNode manifestUsage() throws IOException {
        for (JsonNode entry : JSON.readTree(resource("/vllm-fixtures/current/manifest.json")).findParents("name")) {
            if ("realtime".equals(entry.path("name").asText())) {
                return entry.get("usage");
            }
        }
        throw new AssertionError("no realtime fixture in the manifest");
    }

    private static String resource(String name) {
        try (InputStream in = RealtimeIT.class.getResourceAsStream(name)) {
            assertThat(in).as(name).isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A java.net.http WebSocket client that keeps every text message it receives and how it was closed. */
    static final class Client implements WebSocket.Listener {
        final List<String> received = new CopyOnWriteArrayList<>();
        final CompletableFuture<Integer> closedWith = new CompletableFuture<>();
        private final StringBuilder partial = new StringBuilder();

        WebSocket connect(int port, String authorization) throws Exception {
            WebSocket.Builder builder = HttpClient.newHttpClient().newWebSocketBuilder()
                    .connectTimeout(Duration.ofSeconds(10));
            if (authorization != null) {
                builder.header("Authorization", authorization);
            }
            return builder.buildAsync(URI.create("ws://127.0.0.1:" + port + "/v1/realtime"), this)
                    .get(20, TimeUnit.SECONDS);
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                received.add(partial.toString());
                partial.setLength(0);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            closedWith.complete(statusCode);
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            closedWith.completeExceptionally(error);
        }
    }
}
