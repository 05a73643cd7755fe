package dev.tokentap.testkit.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The simulator over real HTTP: vLLM wire shapes against golden files, streaming options, pacing, errors. */
class VllmSimulatorIT {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private static final String CHAT = "/v1/chat/completions";
    private static final String COMPLETIONS = "/v1/completions";
    /** How long an event released by the test may take to reach it; only a held-back event takes longer. */
    private static final Duration EVENT_WAIT = Duration.ofSeconds(10);

    private static VllmSimulator sim;

    @BeforeAll
    static void startSimulator() {
        // the golden shapes here are legacy vLLM's; the current profile is checked against vLLM's own bytes by
        // tap-proxy's SimulatorProfilesIT
        sim = VllmSimulator.builder().vllmProfile(VllmProfile.LEGACY).build().start();
    }

    @AfterAll
    static void stopSimulator() {
        sim.close();
    }

    @BeforeEach
    void forgetEarlierRequests() {
        sim.clearReceived();
    }

    @Test
    void shouldListenOnLoopbackAndAnswerHealthWithAnEmptyOk() throws Exception {
        assertThat(sim.baseUrl()).startsWith("http://127.0.0.1:").endsWith(":" + sim.port());

        HttpResponse<String> response = get(sim, "/health");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).isEmpty();
    }

    @Test
    void shouldListModelsInVllmShape() throws Exception {
        HttpResponse<String> response = get(sim, "/v1/models");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(normalized(response.body())).isEqualTo(golden("models.json"));
    }

    @Test
    void shouldAnswerChatInVllmShape() throws Exception {
        String body = "{\"model\":\"tokentap/sim-1b\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                + "{\"role\":\"user\",\"content\":\"hello there you\"}],\"max_tokens\":3}";

        HttpResponse<String> response = post(sim, CHAT, body);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(type -> assertThat(type).startsWith("application/json"));
        assertThat(normalized(response.body())).isEqualTo(golden("chat-completion.json"));
        assertThat(MAPPER.readTree(response.body()).get("id").asText()).matches("chatcmpl-[0-9a-f]{32}");
        assertUsageMatchesRule(CHAT, body, MAPPER.readTree(response.body()).get("usage"));
    }

    @Test
    void shouldAnswerCompletionInVllmShape() throws Exception {
        String body = "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"one two three four five\",\"max_tokens\":7}";

        HttpResponse<String> response = post(sim, COMPLETIONS, body);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(normalized(response.body())).isEqualTo(golden("completion.json"));
        assertThat(MAPPER.readTree(response.body()).get("id").asText()).matches("cmpl-[0-9a-f]{32}");
    }

    @Test
    void shouldStreamChatWithoutUsageWhenNotAsked() throws Exception {
        HttpResponse<String> response = post(sim, CHAT, "{\"model\":\"tokentap/sim-1b\",\"messages\":[{\"role\":\"user\",\"content\":\"a b c\"}],"
                + "\"max_tokens\":2,\"stream\":true}");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValue("text/event-stream; charset=utf-8");
        assertThat(normalized(response.body())).isEqualTo(golden("chat-stream.sse"));
    }

    @Test
    void shouldStreamChatWithAFinalUsageChunkWhenStreamOptionsAsk() throws Exception {
        String body = "{\"model\":\"tokentap/sim-1b\",\"messages\":[{\"role\":\"user\",\"content\":\"a b c\"}],"
                + "\"max_tokens\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";

        HttpResponse<String> response = post(sim, CHAT, body);

        assertThat(normalized(response.body())).isEqualTo(golden("chat-stream-usage.sse"));
        List<JsonNode> chunks = chunks(response.body());
        assertUsageMatchesRule(CHAT, body, chunks.get(chunks.size() - 1).get("usage"));
    }

    @Test
    void shouldStreamCompletionsWithNullUsageOnEveryChunk() throws Exception {
        HttpResponse<String> response = post(sim, COMPLETIONS, "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"a b c\",\"max_tokens\":2,\"stream\":true}");

        assertThat(normalized(response.body())).isEqualTo(golden("completion-stream.sse"));
    }

    @Test
    void shouldDefaultIncludeUsageToTrueOnceStreamOptionsArePresent() throws Exception {
        String body = "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"a b c\",\"max_tokens\":2,\"stream\":true,\"stream_options\":{}}";

        HttpResponse<String> response = post(sim, COMPLETIONS, body);

        assertThat(normalized(response.body())).isEqualTo(golden("completion-stream-usage.sse"));
        List<JsonNode> chunks = chunks(response.body());
        assertUsageMatchesRule(COMPLETIONS, body, chunks.get(chunks.size() - 1).get("usage"));
    }

    @Test
    void shouldSendNoUsageChunkWhenIncludeUsageIsFalse() throws Exception {
        for (String route : List.of(CHAT, COMPLETIONS)) {
            String body = generationBody(route, 3, "\"stream\":true,\"stream_options\":{\"include_usage\":false,\"continuous_usage_stats\":true}");

            List<JsonNode> chunks = chunks(post(sim, route, body).body());

            assertThat(chunks).as(route).allSatisfy(chunk -> {
                assertThat(chunk.get("choices")).isNotEmpty();
                assertThat(chunk.path("usage").isMissingNode() || chunk.get("usage").isNull()).isTrue();
            });
        }
    }

    @Test
    void shouldCarryCumulativeUsageOnEveryChunkWithContinuousUsageStats() throws Exception {
        for (String route : List.of(CHAT, COMPLETIONS)) {
            String body = generationBody(route, 3, "\"stream\":true,\"stream_options\":{\"continuous_usage_stats\":true}");
            SimUsage expected = SimTokenizer.usageFor(route, body);

            List<JsonNode> chunks = chunks(post(sim, route, body).body());

            List<Integer> completionSoFar = new ArrayList<>();
            for (JsonNode chunk : chunks) {
                JsonNode usage = chunk.get("usage");
                assertThat(usage.get("prompt_tokens").asInt()).isEqualTo(expected.promptTokens());
                assertThat(usage.get("total_tokens").asInt()).isEqualTo(expected.promptTokens() + usage.get("completion_tokens").asInt());
                completionSoFar.add(usage.get("completion_tokens").asInt());
            }
            // chat starts with the role chunk at 0; both end with the final usage chunk repeating the total
            List<Integer> expectedSeries = route.equals(CHAT) ? List.of(0, 1, 2, 3, 3) : List.of(1, 2, 3, 3);
            assertThat(completionSoFar).as(route).isEqualTo(expectedSeries);
        }
    }

    @Test
    void shouldSumCompletionTokensOverChoices() throws Exception {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"a b\"}],\"max_tokens\":2,\"n\":3}";

        JsonNode response = MAPPER.readTree(post(sim, CHAT, body).body());

        assertThat(response.get("choices")).extracting(choice -> choice.get("index").asInt()).containsExactly(0, 1, 2);
        assertThat(response.at("/usage/completion_tokens").asInt()).isEqualTo(6);
        assertUsageMatchesRule(CHAT, body, response.get("usage"));

        List<JsonNode> chunks = chunks(post(sim, CHAT, body.replace("}],", "}],\"stream\":true,\"stream_options\":{},")).body());
        assertThat(chunks.get(chunks.size() - 1).at("/usage/completion_tokens").asInt()).isEqualTo(6);
        assertThat(chunks.stream().filter(chunk -> !chunk.at("/choices/0/delta/content").asText("").isEmpty())).hasSize(6);
    }

    @Test
    void shouldAnswerAnUnnamedModelWithTheFirstServedOne() throws Exception {
        JsonNode response = MAPPER.readTree(post(sim, COMPLETIONS, "{\"prompt\":\"a\",\"max_tokens\":1}").body());

        assertThat(response.get("model").asText()).isEqualTo("tokentap/sim-1b");
    }

    @Test
    void shouldRefuseAnUnknownModelWithVllmsNotFoundError() throws Exception {
        HttpResponse<String> response = post(sim, CHAT, "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}");

        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(response.body()).isEqualTo(
                "{\"error\":{\"message\":\"The model `nope` does not exist.\",\"type\":\"NotFoundError\",\"param\":\"model\",\"code\":404}}");
    }

    @Test
    void shouldRefuseMalformedRequestsWithVllmsBadRequestError() throws Exception {
        for (String body : List.of("{\"model\":", "{\"model\":\"tokentap/sim-1b\"}", "{\"prompt\":\"a\",\"max_tokens\":0}")) {
            HttpResponse<String> response = post(sim, COMPLETIONS, body);

            assertThat(response.statusCode()).as(body).isEqualTo(400);
            JsonNode error = MAPPER.readTree(response.body());
            assertThat(error.fieldNames()).toIterable().containsExactly("error");
            assertThat(error.get("error").fieldNames()).toIterable().containsExactly("message", "type", "param", "code");
            assertThat(error.at("/error/type").asText()).isEqualTo("BadRequestError");
            assertThat(error.at("/error/param").isNull()).isTrue();
            assertThat(error.at("/error/code").asInt()).isEqualTo(400);
            assertThat(error.at("/error/message").asText()).isNotBlank();
        }
    }

    @Test
    void shouldEchoTheRequestIdAndBuildTheResponseIdFromIt() throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(sim.baseUrl() + CHAT))
                .header("X-Request-Id", "req-42")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":2}"))
                .build();

        HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());

        assertThat(response.headers().firstValue("X-Request-Id")).hasValue("req-42");
        assertThat(MAPPER.readTree(response.body()).get("id").asText()).isEqualTo("chatcmpl-req-42");
        assertThat(sim.tokensServed("chatcmpl-req-42")).hasValue(2);
    }

    @Test
    void shouldRecordWhatItReceived() throws Exception {
        String body = "{\"prompt\":\"a b\",\"max_tokens\":1}";
        HttpRequest request = HttpRequest.newBuilder(URI.create(sim.baseUrl() + COMPLETIONS + "?trace=1"))
                .header("Authorization", "Bearer sk-test")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();

        HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        get(sim, "/health");

        assertThat(sim.received()).hasSize(2);
        ReceivedRequest first = sim.received().get(0);
        assertThat(first.method()).isEqualTo("POST");
        assertThat(first.path()).isEqualTo(COMPLETIONS);
        assertThat(first.query()).isEqualTo("trace=1");
        assertThat(first.header("authorization")).isEqualTo("Bearer sk-test");
        assertThat(first.bodyText()).isEqualTo(body);
        assertThat(first.bodyJson().get("max_tokens").asInt()).isEqualTo(1);
        assertThat(sim.received().get(1).path()).isEqualTo("/health");
    }

    @Test
    void shouldKeepOnlyTheNewestRequestsUpToTheLimit() throws Exception {
        try (VllmSimulator small = VllmSimulator.builder().recordLimit(2).build().start()) {
            for (int i = 0; i < 3; i++) {
                post(small, COMPLETIONS, "{\"prompt\":\"request " + i + "\",\"max_tokens\":1}");
            }

            assertThat(small.received()).extracting(ReceivedRequest::bodyText)
                    .containsExactly("{\"prompt\":\"request 1\",\"max_tokens\":1}", "{\"prompt\":\"request 2\",\"max_tokens\":1}");
        }
    }

    @Test
    void shouldReportCachedTokensWhenConfigured() throws Exception {
        try (VllmSimulator cached = VllmSimulator.builder().cachedTokens(2).build().start()) {
            JsonNode response = MAPPER.readTree(post(cached, COMPLETIONS, "{\"prompt\":\"a b c\",\"max_tokens\":1}").body());
            List<JsonNode> chunks = chunks(post(cached, COMPLETIONS, "{\"prompt\":\"a b c\",\"max_tokens\":1,\"stream\":true,\"stream_options\":{\"include_usage\":true}}").body());

            assertThat(response.at("/usage/prompt_tokens_details").toString()).isEqualTo("{\"cached_tokens\":2}");
            assertThat(chunks.get(chunks.size() - 1).get("usage").toString())
                    .isEqualTo("{\"prompt_tokens\":3,\"total_tokens\":4,\"completion_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":2}}");
        }
    }

    @Test
    void shouldAnswerErrorsInTheLegacyFlatFormatWhenConfigured() throws Exception {
        try (VllmSimulator legacy = VllmSimulator.builder().legacyErrors(true).build().start()) {
            HttpResponse<String> response = post(legacy, COMPLETIONS, "{\"prompt\":\"a\",\"max_tokens\":0}");

            assertThat(response.statusCode()).isEqualTo(400);
            JsonNode error = MAPPER.readTree(response.body());
            assertThat(error.fieldNames()).toIterable().containsExactly("object", "message", "type", "param", "code");
            assertThat(error.get("object").asText()).isEqualTo("error");
            assertThat(error.get("type").asText()).isEqualTo("BadRequestError");
            assertThat(error.get("code").asInt()).isEqualTo(400);
        }
    }

    @Test
    void shouldNeverSendAChunkBeforeItIsDue() throws Exception {
        Duration ttft = Duration.ofMillis(150);
        Duration itl = Duration.ofMillis(100);
        try (VllmSimulator paced = VllmSimulator.start("127.0.0.1", 0, ttft, itl)) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(paced.baseUrl() + COMPLETIONS))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"a\",\"max_tokens\":6,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"))
                    .build();
            long sent = System.nanoTime();

            HttpResponse<Stream<String>> response = HTTP.send(request, HttpResponse.BodyHandlers.ofLines());
            List<Long> arrivals = new ArrayList<>();
            try (Stream<String> lines = response.body()) {
                lines.filter(line -> line.startsWith("data: ")).forEach(line -> arrivals.add(System.nanoTime()));
            }

            // 6 token chunks, the usage chunk and [DONE]; token chunk i is due ttft + i * itl after the request and
            // never leaves before (a busy machine only makes it later, so this holds however loaded it is)
            assertThat(arrivals).hasSize(8);
            for (int i = 0; i < 6; i++) {
                assertThat(Duration.ofNanos(arrivals.get(i) - sent))
                        .as("token chunk %d since the request", i)
                        .isGreaterThanOrEqualTo(ttft.plus(itl.multipliedBy(i)).minusMillis(10));
            }
        }
    }

    @Test
    void shouldSendTheHeadersAtOnceAndEachStepOnItsOwn() throws Exception {
        try (VllmSimulator stepped = VllmSimulator.builder().stepByStep(true).build().start()) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(stepped.baseUrl() + CHAT))
                    .header("X-Request-Id", "stepped")
                    .timeout(EVENT_WAIT)
                    .POST(HttpRequest.BodyPublishers.ofString(generationBody(CHAT, 4, "\"stream\":true")))
                    .build();

            // the headers come before any token was released, as uvicorn sends them
            HttpResponse<InputStream> response = HTTP.send(request, HttpResponse.BodyHandlers.ofInputStream());
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(stepped.tokensServed("chatcmpl-stepped")).isEmpty();

            // each step reaches the client while the next one is still held: written and flushed on its own
            try (EventStreamReader events = new EventStreamReader(response.body())) {
                for (int step = 0; step < 4; step++) {
                    stepped.release("chatcmpl-stepped");
                    String token = "\" tok" + step + "\"";
                    assertThat(events.nextMatching(event -> event.contains(token), EVENT_WAIT)).startsWith("data: {");
                }
                assertThat(events.next(EVENT_WAIT)).hasValue("data: [DONE]");
                assertThat(events.next(EVENT_WAIT)).isEmpty();
            }
        }
    }

    @Test
    void shouldStopStreamingWhenTheClientGoesAway() throws Exception {
        try (VllmSimulator paced = VllmSimulator.start("127.0.0.1", 0, Duration.ZERO, Duration.ofMillis(20))) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(paced.baseUrl() + CHAT))
                    .header("X-Request-Id", "leaver")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":500,\"stream\":true}"))
                    .build();

            HttpResponse<InputStream> response = HTTP.send(request, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream body = response.body()) {
                Objects.requireNonNull(body.readNBytes(200));
            }

            // a full stream would take 10 s; once the writes fail the count stops moving well before that
            int[] previous = {-1};
            await().pollInterval(Duration.ofMillis(150)).atMost(Duration.ofSeconds(8)).until(() -> {
                int now = paced.tokensServed("chatcmpl-leaver").orElse(-1);
                boolean settled = now > 0 && now == previous[0];
                previous[0] = now;
                return settled;
            });
            assertThat(paced.tokensServed("chatcmpl-leaver").getAsInt()).isBetween(1, 499);
            // and it still serves others
            assertThat(post(paced, COMPLETIONS, "{\"prompt\":\"a\",\"max_tokens\":1}").statusCode()).isEqualTo(200);
        }
    }

    @Test
    void shouldStopPromptlyWithStreamsInFlight() throws Exception {
        // given a stream that would never end by itself: its second step is never released
        VllmSimulator stopping = VllmSimulator.builder().stepByStep(true).build().start();
        HttpRequest request = HttpRequest.newBuilder(URI.create(stopping.baseUrl() + COMPLETIONS))
                .header("X-Request-Id", "endless")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"a\",\"max_tokens\":200,\"stream\":true}"))
                .build();
        HttpResponse<InputStream> response = HTTP.send(request, HttpResponse.BodyHandlers.ofInputStream());
        stopping.release("cmpl-endless");
        InputStream body = response.body();
        assertThat(new String(body.readNBytes(6), StandardCharsets.UTF_8)).isEqualTo("data: ");

        long started = System.nanoTime();
        stopping.stop();

        // a stop that waited for the stream would never return
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(20));
        assertThat(stopping.isRunning()).isFalse();
        // the client sees the stream end early, never a [DONE]
        String rest;
        try (body) {
            rest = new String(body.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException cut) {
            rest = "";
        }
        assertThat(rest).doesNotContain("[DONE]");
    }

    private static String generationBody(String route, int maxTokens, String extra) {
        String input = route.equals(CHAT) ? "\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]" : "\"prompt\":\"one two three\"";
        return "{" + input + ",\"max_tokens\":" + maxTokens + "," + extra + "}";
    }

    private static void assertUsageMatchesRule(String route, String body, JsonNode usage) {
        SimUsage expected = SimTokenizer.usageFor(route, body);
        assertThat(usage.get("prompt_tokens").asInt()).isEqualTo(expected.promptTokens());
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(expected.completionTokens());
        assertThat(usage.get("total_tokens").asInt()).isEqualTo(expected.totalTokens());
    }

    /** The JSON payloads of an SSE body, checking the framing on the way: data lines, blank-line separated, [DONE] last. */
    private static List<JsonNode> chunks(String body) throws IOException {
        assertThat(body).endsWith("data: [DONE]\n\n");
        List<JsonNode> chunks = new ArrayList<>();
        Iterator<String> frames = List.of(body.split("\n\n")).iterator();
        while (frames.hasNext()) {
            String frame = frames.next();
            assertThat(frame).startsWith("data: ").doesNotContain("\n");
            String payload = frame.substring("data: ".length());
            if (!frames.hasNext()) {
                assertThat(payload).isEqualTo("[DONE]");
            } else {
                chunks.add(MAPPER.readTree(payload));
            }
        }
        return chunks;
    }

    /** Replaces what differs per response (ids, timestamps) so a body can be compared byte for byte with a golden file. */
    private static String normalized(String body) {
        return body.replaceAll("\"id\":\"(chatcmpl|cmpl|modelperm)-[^\"]*\"", "\"id\":\"<id>\"")
                .replaceAll("\"created\":\\d+", "\"created\":0");
    }

    private static String golden(String name) throws IOException {
        try (InputStream in = VllmSimulatorIT.class.getResourceAsStream("/golden/" + name)) {
            String text = new String(Objects.requireNonNull(in, name).readAllBytes(), StandardCharsets.UTF_8);
            // .json files end with one newline for editors; the wire has none. SSE files are the exact wire bytes.
            return name.endsWith(".json") ? text.stripTrailing() : text;
        }
    }

    private static HttpResponse<String> get(VllmSimulator simulator, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(simulator.baseUrl() + path)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> post(VllmSimulator simulator, String path, String body) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(simulator.baseUrl() + path))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
    }
}
