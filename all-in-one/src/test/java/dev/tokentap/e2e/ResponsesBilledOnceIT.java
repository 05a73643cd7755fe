package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A stored Responses API response is billed once, end to end: requests from two client addresses through two proxy
 * replicas to an upstream that answers with the bytes of vLLM's own serialisation (the fixtures under
 * {@code tap-proxy/src/test/resources/vllm-fixtures/current}), the events through a real broker with three
 * partitions to the aggregator, whose {@code /metrics} must count each response's tokens once however often it is
 * read, across an aggregator restart.
 */
@ExtendWith(KafkaExtension.class)
class ResponsesBilledOnceIT {

    static final Path FIXTURES = Path.of("..", "tap-proxy", "src", "test", "resources", "vllm-fixtures", "current");
    static final String STORED = "resp_00285e1f4c0d9a7b";
    static final String BACKGROUND = "resp_002d5e1f4c0d9a7b";
    static final long TOKENS = 20;

    private final HttpClient http = HttpClient.newHttpClient();
    /** What the upstream answers a read of the background response with: its state as vLLM's store has it. */
    private final Map<String, String> stored = new ConcurrentHashMap<>();

    @TempDir
    Path stateDir;

    private Server upstream;
    private TapProxy proxyA;
    private TapProxy proxyB;
    private Aggregator aggregator;

    @BeforeEach
    void startEverything(TestKafka kafka) throws Exception {
        upstream = new Server();
        ServerConnector connector = new ServerConnector(upstream);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        upstream.addConnector(connector);
        upstream.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String body = BufferUtil.toString(Content.Source.asByteBuffer(request), StandardCharsets.UTF_8);
                String path = Request.getPathInContext(request);
                String answer;
                if ("POST".equals(request.getMethod())) {
                    answer = fixture(body.contains("\"background\": true") ? "responses-background.response.json"
                            : "responses.response.json");
                } else if (path.endsWith(BACKGROUND)) {
                    answer = stored.get(BACKGROUND);
                } else {
                    answer = fixture("responses-get.response.json");
                }
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
                response.write(true, ByteBuffer.wrap(answer.getBytes(StandardCharsets.UTF_8)), callback);
                return true;
            }
        });
        upstream.start();
        String upstreamUrl = "http://127.0.0.1:" + connector.getLocalPort();
        aggregator = startAggregator(kafka);
        proxyA = TapProxy.start(ProxyConfigs.loopback(upstreamUrl, kafka.bootstrapServers(), "--proxy-host",
                "tap-a"));
        proxyB = TapProxy.start(ProxyConfigs.loopback(upstreamUrl, kafka.bootstrapServers(), "--proxy-host",
                "tap-b"));
    }

    private Aggregator startAggregator(TestKafka kafka) {
        return Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(), "--listen",
                "127.0.0.1", "--port", "0", "--state-dir", stateDir.toString(), "--topic-partitions", "3"));
    }

    @AfterEach
    void stopEverything() throws Exception {
        if (proxyA != null) proxyA.close();
        if (proxyB != null) proxyB.close();
        if (aggregator != null) aggregator.close();
        if (upstream != null) upstream.stop();
    }

    @Test
    void shouldBillEachResponseOnceHoweverOftenAndWhereverItIsReadAcrossARestart(TestKafka kafka) throws Exception {
        // given a stored response created with its usage, then read back twice, through the other replica too
        send(proxyA, "127.0.0.2", "POST", "/v1/responses", fixture("responses.request.json"));
        send(proxyA, "127.0.0.2", "GET", "/v1/responses/" + STORED, null);
        send(proxyB, "127.0.0.3", "GET", "/v1/responses/" + STORED, null);

        // then its tokens are counted once, every request is counted
        awaitTotals(TOKENS, 3);

        // when a background response is created queued, read queued, in progress, then completed twice
        stored.put(BACKGROUND, fixture("responses-background-get-queued.response.json"));
        send(proxyB, "127.0.0.3", "POST", "/v1/responses", fixture("responses-background.request.json"));
        send(proxyA, "127.0.0.2", "GET", "/v1/responses/" + BACKGROUND, null);
        stored.put(BACKGROUND, fixture("responses-background-get-queued.response.json")
                .replace("\"status\":\"queued\"", "\"status\":\"in_progress\""));
        send(proxyB, "127.0.0.4", "GET", "/v1/responses/" + BACKGROUND, null);
        stored.put(BACKGROUND, fixture("responses-background-get-completed.response.json"));
        send(proxyA, "127.0.0.2", "GET", "/v1/responses/" + BACKGROUND, null);
        send(proxyB, "127.0.0.3", "GET", "/v1/responses/" + BACKGROUND, null);

        // then it is counted once, at its first completed read
        awaitTotals(2 * TOKENS, 8);

        // when the aggregator restarts on its state and both responses are read again
        aggregator.close();
        aggregator = startAggregator(kafka);
        send(proxyB, "127.0.0.4", "GET", "/v1/responses/" + BACKGROUND, null);
        send(proxyA, "127.0.0.3", "GET", "/v1/responses/" + STORED, null);

        // then neither is counted again
        awaitTotals(2 * TOKENS, 10);
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertTotals(2 * TOKENS, 10));
    }

    private void awaitTotals(long tokens, long requests) {
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250))
                .untilAsserted(() -> assertTotals(tokens, requests));
    }

    private void assertTotals(long tokens, long requests) throws IOException, InterruptedException {
        PrometheusText metrics = PrometheusText.parse(get("http://127.0.0.1:" + aggregator.port() + "/metrics"));
        assertThat(metrics.sum("vllm_requests_total", Map.of())).as("requests").isEqualTo(requests);
        assertThat(metrics.sum("vllm_total_tokens_total", Map.of())).as("total tokens").isEqualTo(tokens);
        assertThat(metrics.sum("vllm_prompt_tokens_total", Map.of())).as("prompt tokens").isEqualTo(tokens * 12 / 20);
        assertThat(metrics.sum("vllm_completion_tokens_total", Map.of())).as("completion tokens")
                .isEqualTo(tokens * 8 / 20);
    }

    private void send(TapProxy proxy, String clientAddress, String method, String path, String body) {
        okhttp3.Request.Builder request = new okhttp3.Request.Builder()
                .url("http://127.0.0.1:" + proxy.port() + path);
        request.method(method, body == null ? null
                : okhttp3.RequestBody.create(body, okhttp3.MediaType.get("application/json")));
        try {
            // a client of its own address, as another pod would be
            okhttp3.OkHttpClient client = new okhttp3.OkHttpClient.Builder()
                    .socketFactory(new BoundSocketFactory(clientAddress))
                    .readTimeout(Duration.ofSeconds(20)).build();
            try (okhttp3.Response response = client.newCall(request.build()).execute()) {
                assertThat(response.code()).as("%s %s", method, path).isEqualTo(200);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String fixture(String name) {
        try {
            return Files.readString(FIXTURES.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String get(String url) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as("GET %s", url).isEqualTo(200);
        return response.body();
    }
}
