package dev.tokentap.benchmarks;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.event.UsageSource;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Serializer;
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

/**
 * One usage event through its wire format: {@code encode} as the proxy writes it, {@code serializeWithHeaders} as
 * its Kafka producer calls the serde (JSON plus the CloudEvents headers), and {@code decode} as the aggregator reads
 * every record of the usage log (bytes to a validated event). The event is a streamed chat request with every field
 * a proxy usually fills in. Scores are per event.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class UsageEventCodecBenchmark {

    private final UsageEventCodec codec = new UsageEventCodec();
    private final Serializer<UsageEvent> serializer = new UsageEventSerde().serializer();
    private UsageEvent event;
    private byte[] json;

    @Setup
    public void event() {
        long started = 1_763_800_000_123L;
        event = UsageEvent.builder()
                .eventId("019a9c41-7d2e-7b3a-9c4d-5e6f7a8b9c0d")
                .requestId("5c1f0e7a2b9d4c3e8f6a1b2c3d4e5f60")
                .responseId("chatcmpl-5c1f0e7a2b9d4c3e8f6a1b2c3d4e5f60")
                .traceId("4bf92f3577b34da6a3ce929d0e0e4736")
                .spanId("00f067aa0ba902b7")
                .startedAt(started)
                .firstByteAt(started + 184)
                .endedAt(started + 5_312)
                .method("POST")
                .route("/v1/chat/completions")
                .status(200)
                .outcome(Outcome.OK)
                .model("meta-llama/Llama-3.1-8B-Instruct")
                .responseModel("meta-llama/Llama-3.1-8B-Instruct")
                .stream(true)
                .promptTokens(312L)
                .completionTokens(394L)
                .totalTokens(706L)
                .cachedTokens(256L)
                .usageSource(UsageSource.REPORTED)
                .clientAddress("10.42.3.17")
                .apiKeyId("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
                .user("batch-reports")
                .proxyHost("vllm-7d9f8c6b5-2xkqp")
                .upstream("127.0.0.1:8000")
                .completionTokensReported(true)
                .build();
        json = codec.encode(event);
    }

    @Benchmark
    public byte[] encode() {
        return codec.encode(event);
    }

    @Benchmark
    public byte[] serializeWithHeaders() {
        return serializer.serialize(Topics.USAGE, new RecordHeaders(), event);
    }

    @Benchmark
    public UsageEvent decode() {
        return codec.decode(json);
    }
}
