package dev.tokentap.benchmarks;

import dev.tokentap.proxy.usage.RequestBodyRewriter;
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
 * One chat request body through the request-side tap, as the proxy reads it from the client in one piece: a
 * four-message conversation of about 1.3 KB. {@code streamWithoutOptions} is the case the proxy rewrites (it splices
 * {@code stream_options} with {@code include_usage} and {@code continuous_usage_stats} in front of the closing
 * brace); {@code notStreaming} is only read. Scores are per request.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class RequestBodyRewriterBenchmark {

    private byte[] streaming;
    private byte[] notStreaming;

    @Setup
    public void bodies() {
        streaming = body(true).getBytes(StandardCharsets.UTF_8);
        notStreaming = body(false).getBytes(StandardCharsets.UTF_8);
    }

    /** A chat request as an OpenAI client library sends it: compact JSON, model first, options after messages. */
    static String body(boolean stream) {
        return "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"messages\":["
                + "{\"role\":\"system\",\"content\":\"You are a support assistant for an internal developer platform. "
                + "Answer briefly, cite the runbook section you rely on, and say so when you do not know. Never "
                + "invent command-line flags; if a flag is not in the documentation you were given, ask the user "
                + "to check the tool's --help output instead.\"},"
                + "{\"role\":\"user\",\"content\":\"Our nightly batch job started failing with 'connection reset by "
                + "peer' when it calls the inference gateway. Nothing changed on our side. The job sends about 400 "
                + "requests per minute with a concurrency of 16 and a client timeout of 120 seconds. What should I "
                + "look at first?\"},"
                + "{\"role\":\"assistant\",\"content\":\"Start with the gateway's idle and request timeouts "
                + "(runbook 4.2): a reset after a long generation usually means an intermediary closed the "
                + "connection. Check whether the failures cluster on long answers, and compare the gateway's "
                + "access log with your client's timestamps.\"},"
                + "{\"role\":\"user\",\"content\":\"They do cluster on long answers, mostly above 2,000 tokens. The "
                + "gateway log shows a 60 second upstream timeout. Can we stream instead, and will our token "
                + "accounting still work if we do?\"}],"
                + "\"temperature\":0.2,\"top_p\":0.95,\"max_tokens\":1024,\"stream\":" + stream
                + ",\"user\":\"batch-reports\"}";
    }

    @Benchmark
    public void streamWithoutOptions(Blackhole out) {
        run(streaming, out);
    }

    @Benchmark
    public void notStreaming(Blackhole out) {
        run(notStreaming, out);
    }

    private static void run(byte[] body, Blackhole out) {
        RequestBodyRewriter rewriter = new RequestBodyRewriter();
        List<ByteBuffer> output = new ArrayList<>(3);
        rewriter.transform(ByteBuffer.wrap(body), true, output);
        out.consume(output);
        out.consume(rewriter.injected());
        out.consume(rewriter.model());
    }
}
