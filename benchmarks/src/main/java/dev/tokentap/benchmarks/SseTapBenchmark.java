package dev.tokentap.benchmarks;

import dev.tokentap.proxy.usage.ChunkUsageSplice;
import dev.tokentap.proxy.usage.ResponseFacts;
import dev.tokentap.proxy.usage.SseResponseTap;
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
 * the usage-only chunk out (the proxy asked for {@code continuous_usage_stats}). Scores are per chunk.
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

    @Setup
    public void chunks() {
        plain = stream(false);
        continuous = stream(true);
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
