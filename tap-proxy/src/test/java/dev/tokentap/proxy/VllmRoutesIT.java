package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tokentap.event.Routes;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every token-consuming route of vLLM, with the bytes vLLM's own serialisation gives (the fixtures under
 * {@code vllm-fixtures/}, made from vLLM's pydantic models at the commits their READMEs name), through the real proxy
 * to the real broker: each request is metered under its own route label with the usage the fixture says vLLM
 * counted. The upstream answers as vLLM would have answered the request it received: the fixture's metered response
 * when the proxy asked for usage the client did not, the client's response otherwise.
 */
@ExtendWith(KafkaExtension.class)
class VllmRoutesIT {

    private static final String TOPIC = "tokentap.usage.routes";
    private static final String FIXTURE = "X-Fixture";
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Server upstream;
    private static TapProxy proxy;
    private static UsageLog log;
    /** The body the upstream received, by request id. */
    private static final Map<String, byte[]> RECEIVED = new ConcurrentHashMap<>();

    @BeforeAll
    static void start(TestKafka kafka) throws Exception {
        kafka.createTopic(TOPIC, 1);
        upstream = Upstreams.started(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String[] fixture = request.getHeaders().get(FIXTURE).split("/");
                JsonNode entry = entry(fixture[0], fixture[1]);
                byte[] body = BufferUtil.toArray(Content.Source.asByteBuffer(request));
                RECEIVED.put(request.getHeaders().get("X-Request-Id"), body);
                boolean rewritten = entry.has("request") && !Arrays.equals(body,
                        bytes(fixture[0], entry.get("request").asText()));
                String answer = rewritten && entry.has("metered_response") ? entry.get("metered_response").asText()
                        : entry.get("response").asText();
                response.setStatus(entry.get("status").asInt());
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, entry.get("response_content_type").asText());
                byte[] bytes = bytes(fixture[0], answer);
                if (entry.get("response_content_type").asText().startsWith("text/event-stream")) {
                    // as uvicorn sends a StreamingResponse: chunked, one write per event
                    response.getHeaders().put(HttpHeader.TRANSFER_ENCODING, "chunked");
                    String text = new String(bytes, StandardCharsets.UTF_8);
                    for (int from = 0, end; from < text.length(); from = end) {
                        end = text.indexOf("\n\n", from) < 0 ? text.length() : text.indexOf("\n\n", from) + 2;
                        Callback.Completable written = new Callback.Completable();
                        response.write(false, ByteBuffer.wrap(text.substring(from, end)
                                .getBytes(StandardCharsets.UTF_8)), written);
                        written.get();
                    }
                    response.write(true, BufferUtil.EMPTY_BUFFER, callback);
                } else {
                    response.write(true, ByteBuffer.wrap(bytes), callback);
                }
                return true;
            }
        });
        proxy = TapProxy.start(ProxyConfigs.loopback(Upstreams.url(upstream), "--kafka",
                kafka.bootstrapServers(), "--topic", TOPIC, "--proxy-host", "proxy-routes"));
        log = new UsageLog(kafka, TOPIC);
    }

    @AfterAll
    static void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.stop();
        }
        if (log != null) {
            log.close();
        }
    }

    /**
     * Fixture, the route label it is metered under, its usage source, and whether the client's bytes are compared.
     * The bytes of current chat and completions streams depend on where vLLM puts {@code system_fingerprint} and on
     * its completions chunks without {@code usage}, which the stream stripping deals with; here only their metering
     * is checked.
     */
    static Stream<Arguments> routes() {
        return Stream.of(
                Arguments.of("current/messages", Routes.MESSAGES, UsageSource.REPORTED, true),
                Arguments.of("current/messages-stream", Routes.MESSAGES, UsageSource.REPORTED, true),
                Arguments.of("current/v2-embed", Routes.V2_EMBED, UsageSource.REPORTED, true),
                Arguments.of("current/generate", Routes.GENERATE, UsageSource.COUNTED, true),
                Arguments.of("current/generate-stream", Routes.GENERATE, UsageSource.COUNTED, true),
                Arguments.of("current/generate-stream-include-usage", Routes.GENERATE, UsageSource.REPORTED, true),
                Arguments.of("current/chat-batch", Routes.CHAT_COMPLETIONS_BATCH, UsageSource.REPORTED, true),
                Arguments.of("current/generative-scoring", Routes.GENERATIVE_SCORING, UsageSource.REPORTED, true),
                Arguments.of("current/invocations-chat", Routes.INVOCATIONS, UsageSource.REPORTED, true),
                Arguments.of("current/invocations-embeddings", Routes.INVOCATIONS, UsageSource.REPORTED, true),
                Arguments.of("current/invocations-chat-stream", Routes.INVOCATIONS, UsageSource.REPORTED, false),
                Arguments.of("current/invocations-completion-stream", Routes.INVOCATIONS, UsageSource.REPORTED,
                        false),
                Arguments.of("legacy/invocations-chat-stream", Routes.INVOCATIONS, UsageSource.REPORTED, true),
                Arguments.of("legacy/invocations-completion-stream", Routes.INVOCATIONS, UsageSource.REPORTED, true),
                Arguments.of("current/chat-stream-beam-search", Routes.CHAT_COMPLETIONS, UsageSource.REPORTED, false),
                Arguments.of("current/transcription-stream", Routes.AUDIO_TRANSCRIPTIONS, UsageSource.REPORTED, true),
                Arguments.of("current/transcription-stream-include-usage", Routes.AUDIO_TRANSCRIPTIONS,
                        UsageSource.REPORTED, true),
                Arguments.of("current/translation-stream", Routes.AUDIO_TRANSLATIONS, UsageSource.REPORTED, true),
                Arguments.of("current/translation-stream-include-usage", Routes.AUDIO_TRANSLATIONS,
                        UsageSource.REPORTED, true),
                Arguments.of("legacy/transcription-stream", Routes.AUDIO_TRANSCRIPTIONS, UsageSource.REPORTED, true),
                Arguments.of("current/embeddings", Routes.EMBEDDINGS, UsageSource.REPORTED, true),
                Arguments.of("current/rerank", Routes.RERANK, UsageSource.REPORTED, true),
                Arguments.of("current/responses", Routes.RESPONSES, UsageSource.REPORTED, true),
                Arguments.of("current/responses-stream", Routes.RESPONSES, UsageSource.REPORTED, true),
                Arguments.of("current/chat", Routes.CHAT_COMPLETIONS, UsageSource.REPORTED, true),
                Arguments.of("legacy/completion-stream-beam-search", Routes.COMPLETIONS, UsageSource.REPORTED, true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("routes")
    void shouldMeterEveryTokenRouteUnderItsOwnLabel(String fixture, String route, String source, boolean bytes) {
        // given
        String[] name = fixture.split("/");
        JsonNode entry = entry(name[0], name[1]);
        String requestId = "routes-" + name[0] + "-" + name[1];

        // when
        HttpResponse<byte[]> response = send(fixture, entry, requestId);

        // then
        assertThat(response.statusCode()).isEqualTo(entry.get("status").asInt());
        if (bytes) {
            assertThat(new String(response.body(), StandardCharsets.UTF_8)).as("the client's bytes")
                    .isEqualTo(new String(bytes(name[0], entry.get("response").asText()), StandardCharsets.UTF_8));
        }
        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(event.route()).isEqualTo(route);
        assertThat(Routes.fullPath(event.route())).as("a label of its own").isEqualTo(route);
        assertThat(event.usageSource()).isEqualTo(source);
        JsonNode usage = entry.get("usage");
        assertThat(event.promptTokens()).as("prompt").isEqualTo(usage.get("prompt_tokens").asLong());
        assertThat(event.completionTokensOrZero()).as("completion")
                .isEqualTo(usage.path("completion_tokens").asLong(0));
        assertThat(event.totalTokensOrSum()).as("total").isEqualTo(usage.get("total_tokens").asLong());
        if (usage.has("cached_tokens")) {
            assertThat(event.cachedTokens()).as("cached").isEqualTo(usage.get("cached_tokens").asLong());
        }
        if (usage.has("reasoning_tokens")) {
            assertThat(event.reasoningTokens()).as("reasoning").isEqualTo(usage.get("reasoning_tokens").asLong());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("audioStreams")
    void shouldAskAStreamingFormForItsUsageOnlyWhenTheClientDidNot(String fixture, boolean asked) {
        String[] name = fixture.split("/");
        JsonNode entry = entry(name[0], name[1]);
        String requestId = "form-" + name[0] + "-" + name[1];

        send(fixture, entry, requestId);

        String received = new String(RECEIVED.get(requestId), StandardCharsets.ISO_8859_1);
        String sent = new String(bytes(name[0], entry.get("request").asText()), StandardCharsets.ISO_8859_1);
        if (asked) {
            assertThat(received).isEqualTo(sent);
        } else {
            String boundary = entry.get("request_content_type").asText().split("boundary=")[1];
            int close = sent.lastIndexOf("\r\n--" + boundary + "--");
            assertThat(received).isEqualTo(sent.substring(0, close)
                    + "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"stream_include_usage\""
                    + "\r\n\r\ntrue"
                    + "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"stream_continuous_usage_stats\""
                    + "\r\n\r\ntrue" + sent.substring(close));
        }
    }

    static Stream<Arguments> audioStreams() {
        return Stream.of(Arguments.of("current/transcription-stream", false),
                Arguments.of("current/transcription-stream-include-usage", true),
                Arguments.of("current/translation-stream", false),
                Arguments.of("legacy/transcription-stream", false),
                Arguments.of("current/transcription", true));
    }

    private static HttpResponse<byte[]> send(String fixture, JsonNode entry, String requestId) {
        String[] name = fixture.split("/");
        HttpRequest.Builder request = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + proxy.port() + entry.get("path").asText()))
                .timeout(Duration.ofSeconds(20))
                .header("X-Request-Id", requestId)
                .header(FIXTURE, fixture);
        if (entry.has("request")) {
            request.header("Content-Type", entry.get("request_content_type").asText())
                    .method(entry.get("method").asText(),
                            HttpRequest.BodyPublishers.ofByteArray(bytes(name[0], entry.get("request").asText())));
        } else {
            request.method(entry.get("method").asText(), HttpRequest.BodyPublishers.noBody());
        }
        try {
            return Http.CLIENT.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static final Map<String, JsonNode> MANIFESTS = new ConcurrentHashMap<>();

    private static JsonNode entry(String profile, String name) {
        JsonNode manifest = MANIFESTS.computeIfAbsent(profile, p -> {
            try {
                return JSON.readTree(bytes(p, "manifest.json"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        for (JsonNode fixture : manifest.get("fixtures")) {
            if (fixture.get("name").asText().equals(name)) {
                return fixture;
            }
        }
        throw new IllegalArgumentException("no fixture " + profile + "/" + name);
    }

    private static byte[] bytes(String profile, String file) {
        try (InputStream in = VllmRoutesIT.class.getResourceAsStream("/vllm-fixtures/" + profile + "/" + file)) {
            if (in == null) {
                throw new IllegalArgumentException("no fixture file " + profile + "/" + file);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
