package dev.tokentap.benchmarks;

import dev.tokentap.proxy.usage.JsonResponseTap;
import dev.tokentap.proxy.usage.ResponseFacts;
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
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * One non-streaming chat answer (about 2.5 KB, as vLLM writes it) through the JSON response tap, which reads
 * {@code id}, {@code model} and {@code usage} while passing every byte on: in one read, and in 512-byte reads as a
 * slow upstream or a small socket buffer delivers it. Scores are per response.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class JsonResponseTapBenchmark {

    private byte[] response;

    @Setup
    public void response() {
        StringBuilder answer = new StringBuilder();
        for (int i = 0; i < 24; i++) {
            answer.append("Streaming keeps the connection busy, so the gateway's idle timer never fires. ");
        }
        response = ("{\"id\":\"chatcmpl-3f6a8d2c9b1e4f7a8c0d2e4f6a8b0c1d\",\"object\":\"chat.completion\","
                + "\"created\":1763800000,\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"" + answer + "\",\"refusal\":null,"
                + "\"annotations\":null,\"audio\":null,\"function_call\":null,\"tool_calls\":[],"
                + "\"reasoning_content\":null},\"logprobs\":null,\"finish_reason\":\"stop\",\"stop_reason\":null}],"
                + "\"service_tier\":null,\"system_fingerprint\":null,\"usage\":{\"prompt_tokens\":312,"
                + "\"total_tokens\":706,\"completion_tokens\":394,\"prompt_tokens_details\":{\"cached_tokens\":256}},"
                + "\"prompt_logprobs\":null,\"kv_transfer_params\":null}").getBytes(StandardCharsets.UTF_8);
    }

    @Benchmark
    public void oneRead(Blackhole out) {
        run(response.length, out);
    }

    @Benchmark
    public void reads512(Blackhole out) {
        run(512, out);
    }

    private void run(int readSize, Blackhole out) {
        ResponseFacts facts = new ResponseFacts();
        JsonResponseTap tap = new JsonResponseTap(facts);
        List<ByteBuffer> output = new ArrayList<>(1);
        for (int at = 0; at < response.length; at += readSize) {
            int length = Math.min(readSize, response.length - at);
            output.clear();
            tap.transform(ByteBuffer.wrap(response, at, length), at + length == response.length, output);
            out.consume(output);
        }
        out.consume(facts.usage());
    }
}
