package dev.tokentap.benchmarks;

import dev.tokentap.proxy.usage.ChunkUsageSplice;
import dev.tokentap.proxy.usage.ClientStreamOptions;
import dev.tokentap.proxy.usage.ResponseFacts;
import dev.tokentap.proxy.usage.SseResponseTap;
import dev.tokentap.proxy.usage.StreamStrip;
import dev.tokentap.proxy.usage.StreamUsagePolicy;
import dev.tokentap.proxy.usage.VllmGeneration;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Chunks per second through the stream tap, one chunk per upstream read as vLLM flushes them: reading usage while
 * passing every byte on (the client asked for usage itself) against cutting the per-chunk {@code usage} member and
 * the usage-only chunk out (the proxy asked for {@code continuous_usage_stats}), and a current vLLM's chat stream
 * as the proxy meets it by default: a running usage and {@code "token_ids":null} in every chunk, the generation told
 * from the first chunk, the terminal chunk held for the usage-only chunk's {@code system_fingerprint}. Scores are
 * per chunk.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class SseTapBenchmark {

    /** Tokens of one streamed chat answer. */
    static final int TOKENS = 256;
    /** Role chunk, one chunk per token, the usage-only chunk and [DONE]. */
    static final int CHUNKS = TOKENS + 3;

    private List<byte[]> plain;
    private List<byte[]> continuous;
    private List<byte[]> current;

    @Setup
    public void chunks() {
        plain = stream(false);
        continuous = stream(true);
        current = currentStream();
    }

    /** A current vLLM's chat stream with continuous usage, as in tap-proxy's vllm-fixtures/current. */
    static List<byte[]> currentStream() {
        List<byte[]> chunks = new ArrayList<>();
        String head = "data: {\"id\":\"chatcmpl-00025e1f4c0d9a7b\",\"object\":\"chat.completion.chunk\","
                + "\"created\":1779868800,\"model\":\"Qwen/Qwen2.5-1.5B-Instruct\",\"choices\":[";
        for (int t = 0; t <= TOKENS; t++) {
            String choice = t == 0
                    ? "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                            + "\"finish_reason\":null}"
                    : t == TOKENS
                    ? "{\"index\":0,\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"stop\","
                            + "\"stop_reason\":null,\"token_ids\":null}"
                    : "{\"index\":0,\"delta\":{\"content\":\" word" + t + "\"},\"logprobs\":null,"
                            + "\"finish_reason\":null,\"token_ids\":null}";
            String tail = t == 0 ? ",\"prompt_token_ids\":null,\"prompt_text\":null" : "";
            chunks.add((head + choice + "],\"usage\":{\"prompt_tokens\":14,\"total_tokens\":" + (14 + t)
                    + ",\"completion_tokens\":" + t + "}" + tail + "}\n\n").getBytes(StandardCharsets.UTF_8));
        }
        chunks.add((head + "],\"usage\":{\"prompt_tokens\":14,\"total_tokens\":" + (14 + TOKENS)
                + ",\"completion_tokens\":" + TOKENS + "},"
                + "\"system_fingerprint\":\"vllm-0.21.1.dev0+g52a31cce-4f1c2a9e\"}\n\n").getBytes(StandardCharsets.UTF_8));
        chunks.add("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        return chunks;
    }

    /** A chat stream as vLLM writes it, with or without a running usage in every chunk. */
    static List<byte[]> stream(boolean continuousUsage) {
        List<byte[]> chunks = new ArrayList<>();
        String head = "data: {\"id\":\"chatcmpl-3f6a8d2c9b1e4f7a8c0d2e4f6a8b0c1d\",\"object\":\"chat.completion.chunk\","
                + "\"created\":1763800000,\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,";
        for (int t = 0; t <= TOKENS; t++) {
            String delta = t == 0 ? "{\"role\":\"assistant\",\"content\":\"\"}" : "{\"content\":\" word" + t + "\"}";
            String finish = t == TOKENS ? "\"length\",\"stop_reason\":null" : "null";
            String usage = continuousUsage ? ",\"usage\":{\"prompt_tokens\":42,\"total_tokens\":" + (42 + t)
                    + ",\"completion_tokens\":" + t + "}" : "";
            chunks.add((head + "\"delta\":" + delta + ",\"logprobs\":null,\"finish_reason\":" + finish + "}]" + usage
                    + "}\n\n").getBytes(StandardCharsets.UTF_8));
        }
        chunks.add(("data: {\"id\":\"chatcmpl-3f6a8d2c9b1e4f7a8c0d2e4f6a8b0c1d\",\"object\":\"chat.completion.chunk\","
                + "\"created\":1763800000,\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[],\"usage\":"
                + "{\"prompt_tokens\":42,\"total_tokens\":" + (42 + TOKENS) + ",\"completion_tokens\":" + TOKENS
                + "}}\n\n").getBytes(StandardCharsets.UTF_8));
        chunks.add("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        return chunks;
    }

    @Benchmark
    @OperationsPerInvocation(CHUNKS)
    public void passThrough(Blackhole out) {
        run(new SseResponseTap(new ResponseFacts(), false), plain, out);
    }

    @Benchmark
    @OperationsPerInvocation(CHUNKS)
    public void stripContinuousUsage(Blackhole out) {
        run(new SseResponseTap(new ResponseFacts(), true, ChunkUsageSplice.Mode.REMOVE), continuous, out);
    }

    @Benchmark
    @OperationsPerInvocation(CHUNKS)
    public void currentVllmChat(Blackhole out) {
        // a client that sent no stream_options, the proxy's default --vllm-generation auto
        StreamStrip strip = StreamStrip.of(StreamUsagePolicy.CHAT, ClientStreamOptions.NONE, VllmGeneration.AUTO,
                false);
        run(new SseResponseTap(new ResponseFacts(), strip), current, out);
    }

    private static void run(SseResponseTap tap, List<byte[]> chunks, Blackhole out) {
        List<ByteBuffer> output = new ArrayList<>(4);
        int last = chunks.size() - 1;
        for (int i = 0; i <= last; i++) {
            output.clear();
            tap.transform(ByteBuffer.wrap(chunks.get(i)), i == last, output);
            out.consume(output);
        }
    }
}
