package dev.tokentap.benchmarks;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;

/** The usage event the publishing and codec benchmarks measure: a streamed chat with every field a proxy fills in. */
public final class SampleEvents {

    private SampleEvents() {
    }

    /** A streamed chat request started at {@code started}, its request id {@code requestId}. */
    public static UsageEvent streamedChat(long started, String requestId) {
        return UsageEvent.builder()
                .eventId("019a9c41-7d2e-7b3a-9c4d-5e6f7a8b9c0d")
                .requestId(requestId)
                .responseId("chatcmpl-" + requestId)
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
    }
}
