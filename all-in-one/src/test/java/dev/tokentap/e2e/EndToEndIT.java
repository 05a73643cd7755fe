package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.SimTokenizer;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole metering path with real parts: the official OpenAI Java SDK calls from three loopback addresses
 * through tap-proxy to the vLLM simulator; the usage goes through a real Kafka broker to the aggregator, whose
 * {@code /metrics} must reach exactly the usage the simulator's token rule gives, across an aggregator restart.
 */
@ExtendWith(KafkaExtension.class)
class EndToEndIT {

    static final List<String> CLIENTS = List.of("127.0.0.2", "127.0.0.3", "127.0.0.4");
    static final String CHAT = "/v1/chat/completions";
    static final String COMPLETIONS = "/v1/completions";

    private final HttpClient http = HttpClient.newHttpClient();
    private final Map<String, Expected> expected = new LinkedHashMap<>();
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @TempDir
    Path stateDir;

    private VllmSimulator sim;
    private TapProxy proxy;
    private Aggregator aggregator;
    private String model;

    /** What one client must have been counted for. */
    static final class Expected {
        long prompt;
        long completion;
        long requests;

        void add(long promptTokens, long completionTokens) {
            prompt += promptTokens;
            completion += completionTokens;
            requests++;
        }
    }

    @BeforeEach
    void startEverything(TestKafka kafka) {
        sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1)).build().start();
        model = sim.models().get(0);
        aggregator = startAggregator(kafka);
        proxy = TapProxy.start(ProxyConfigs.loopback(sim.baseUrl(), kafka.bootstrapServers(),
                "--api-key-hash-secret", "end-to-end-secret", "--proxy-host", "tap-e2e"));
    }

    private Aggregator startAggregator(TestKafka kafka) {
        return Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(), "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", stateDir.toString(), "--topic-partitions", "3"));
    }

    @AfterEach
    void stopEverything() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
        if (proxy != null) proxy.close();
        if (aggregator != null) aggregator.close();
        if (sim != null) sim.close();
    }

    @Test
    void shouldCountEveryClientExactlyAcrossAnAggregatorRestart(TestKafka kafka) throws Exception {
        // given three clients, each calling from its own address
        List<OpenAIClient> viaProxy = new ArrayList<>();
        for (String address : CLIENTS) {
            viaProxy.add(client(proxyBase(), address, "sk-client-" + address));
        }
        OpenAIClient direct = client(sim.baseUrl() + "/v1", "127.0.0.1", "sk-direct");

        // when the first half of the traffic goes through, the aggregator counts it exactly
        for (int c = 0; c < CLIENTS.size(); c++) {
            sendMix(viaProxy.get(c), direct, CLIENTS.get(c), 4 + c);
        }
        awaitExactTotals();

        // and the aggregator stops while the second half goes through, then comes back on the same state
        aggregator.close();
        for (int c = 0; c < CLIENTS.size(); c++) {
            sendMix(viaProxy.get(c), direct, CLIENTS.get(c), 9 + 2 * c);
        }
        aggregator = startAggregator(kafka);

        // then the totals continue from where they were: nothing reset, nothing counted twice
        awaitExactTotals();
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(10))
                .untilAsserted(this::assertExactTotals);
    }

    /**
     * One client's mix: chat and completions, streamed and not, streams with and without {@code stream_options};
     * every stream is compared chunk for chunk with the same request sent straight to the simulator.
     */
    private void sendMix(OpenAIClient client, OpenAIClient direct, String address, int maxTokens) {
        String question = "how many tokens will client " + address + " use today";
        String prompt = "San Francisco is a city in";
        long chatPrompt = SimTokenizer.chatPromptTokens(List.of(question));
        long completionPrompt = SimTokenizer.countWords(prompt);
        Expected e = expected.computeIfAbsent(address, a -> new Expected());

        ChatCompletionCreateParams chat = ChatCompletionCreateParams.builder()
                .model(model).addUserMessage(question).maxCompletionTokens(maxTokens).build();
        ChatCompletion answer = client.chat().completions().create(chat);
        assertThat(answer.usage()).hasValueSatisfying(u -> {
            assertThat(u.promptTokens()).isEqualTo(chatPrompt);
            assertThat(u.completionTokens()).isEqualTo(maxTokens);
        });
        assertThat(answer.choices().get(0).message().content()).hasValue(SimTokenizer.text(maxTokens));
        e.add(chatPrompt, maxTokens);

        // a stream without stream_options: the proxy asks vLLM for usage and must hide what it asked for
        List<ChatCompletionChunk> viaProxy = chatStream(client, chat);
        assertThat(normalisedChat(viaProxy)).isEqualTo(normalisedChat(chatStream(direct, chat)));
        assertThat(viaProxy).allSatisfy(chunk -> {
            assertThat(chunk.usage()).isEmpty();
            assertThat(chunk.choices()).isNotEmpty();
        });
        e.add(chatPrompt, maxTokens);

        // a stream that asked for usage itself gets it, untouched
        ChatCompletionCreateParams withUsage = chat.toBuilder()
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        List<ChatCompletionChunk> withUsageChunks = chatStream(client, withUsage);
        assertThat(normalisedChat(withUsageChunks)).isEqualTo(normalisedChat(chatStream(direct, withUsage)));
        ChatCompletionChunk last = withUsageChunks.get(withUsageChunks.size() - 1);
        assertThat(last.choices()).isEmpty();
        assertThat(last.usage()).hasValueSatisfying(u -> assertThat(u.totalTokens()).isEqualTo(chatPrompt + maxTokens));
        e.add(chatPrompt, maxTokens);

        CompletionCreateParams completion = CompletionCreateParams.builder()
                .model(model).prompt(prompt).maxTokens(maxTokens).build();
        Completion completed = client.completions().create(completion);
        assertThat(completed.usage()).hasValueSatisfying(u -> assertThat(u.promptTokens()).isEqualTo(completionPrompt));
        e.add(completionPrompt, maxTokens);

        List<Completion> completionChunks = completionStream(client, completion);
        assertThat(normalisedCompletions(completionChunks))
                .isEqualTo(normalisedCompletions(completionStream(direct, completion)));
        assertThat(completionChunks).allSatisfy(chunk -> assertThat(chunk.choices()).isNotEmpty());
        e.add(completionPrompt, maxTokens);
    }

    private void awaitExactTotals() {
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250))
                .untilAsserted(this::assertExactTotals);
    }

    private void assertExactTotals() throws IOException, InterruptedException {
        PrometheusText metrics = PrometheusText.parse(get("http://127.0.0.1:" + aggregator.port() + "/metrics"));
        for (Map.Entry<String, Expected> entry : expected.entrySet()) {
            Map<String, String> client = Map.of("namespace", "unknown", "client_name", entry.getKey(),
                    "hostname", "tap-e2e", "model", model);
            Expected e = entry.getValue();
            assertThat(metrics.sum("vllm_prompt_tokens_total", client)).as("prompt tokens of %s", entry.getKey())
                    .isEqualTo(e.prompt);
            assertThat(metrics.sum("vllm_completion_tokens_total", client)).as("completion tokens of %s",
                    entry.getKey()).isEqualTo(e.completion);
            assertThat(metrics.sum("vllm_total_tokens_total", client)).as("total tokens of %s", entry.getKey())
                    .isEqualTo(e.prompt + e.completion);
            assertThat(metrics.sum("vllm_requests_total", with(client, "outcome", "ok")))
                    .as("requests of %s", entry.getKey()).isEqualTo(e.requests);
            assertThat(metrics.sum("vllm_requests_total", client)).isEqualTo(e.requests);
        }
    }

    private static Map<String, String> with(Map<String, String> labels, String key, String value) {
        Map<String, String> copy = new LinkedHashMap<>(labels);
        copy.put(key, value);
        return copy;
    }

    private List<ChatCompletionChunk> chatStream(OpenAIClient client, ChatCompletionCreateParams params) {
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params)) {
            return stream.stream().toList();
        }
    }

    private List<Completion> completionStream(OpenAIClient client, CompletionCreateParams params) {
        try (StreamResponse<Completion> stream = client.completions().createStreaming(params)) {
            return stream.stream().toList();
        }
    }

    /** The chunks with the per-response id and timestamp blanked, which differ between any two responses. */
    private static List<ChatCompletionChunk> normalisedChat(List<ChatCompletionChunk> chunks) {
        return chunks.stream().map(c -> c.toBuilder().id("id").created(0).build()).toList();
    }

    private static List<Completion> normalisedCompletions(List<Completion> chunks) {
        return chunks.stream().map(c -> c.toBuilder().id("id").created(0).build()).toList();
    }

    private String proxyBase() {
        return "http://127.0.0.1:" + proxy.port() + "/v1";
    }

    private OpenAIClient client(String baseUrl, String localAddress, String apiKey) throws IOException {
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl(baseUrl)
                .apiKey(apiKey)
                .maxRetries(0)
                .okHttpClient(new okhttp3.OkHttpClient.Builder()
                        .socketFactory(new BoundSocketFactory(localAddress))
                        .readTimeout(Duration.ofSeconds(30))
                        .build())
                .build();
        toClose.add(client::close);
        return client;
    }

    private String get(String url) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as("GET %s", url).isEqualTo(200);
        return response.body();
    }
}
