package dev.tokentap.proxy.usage;

/**
 * What the tap learned from an upstream response: ids, model, the last complete usage object, and whether an error
 * was reported. Filled by {@link UsageExtractor} from one or more JSON objects.
 *
 * <p>Written by the one thread that handles a response chunk at a time and read when the exchange completes.
 */
public final class ResponseFacts {
    private volatile String responseId;
    private volatile String responseModel;
    private volatile Usage usage;
    private volatile boolean errorSeen;
    private volatile boolean finalUsage;

    /**
     * Token counts as vLLM reported them; a field is null when it was not reported.
     *
     * @param completionReported whether {@code completion_tokens} (or {@code output_tokens}) was a number
     * @param audioSeconds       the seconds of a {@code {"type":"duration"}} usage object, which counts no tokens
     */
    public record Usage(Long promptTokens, Long completionTokens, Long totalTokens, Long cachedTokens,
                        Long reasoningTokens, boolean completionReported, Double audioSeconds) {

        /** A token usage object whose {@code completion_tokens} was a number when given. */
        public Usage(Long promptTokens, Long completionTokens, Long totalTokens, Long cachedTokens,
                     Long reasoningTokens) {
            this(promptTokens, completionTokens, totalTokens, cachedTokens, reasoningTokens, completionTokens != null,
                    null);
        }
    }

    public String responseId() {
        return responseId;
    }

    public String responseModel() {
        return responseModel;
    }

    /** The last complete {@code usage} object seen, or null. */
    public Usage usage() {
        return usage;
    }

    /** Whether the body, or an event of the stream, was an error object. */
    public boolean errorSeen() {
        return errorSeen;
    }

    void responseIdIfAbsent(String id) {
        if (responseId == null) {
            responseId = id;
        }
    }

    void responseModelIfAbsent(String model) {
        if (responseModel == null) {
            responseModel = model;
        }
    }

    void usage(Usage usage) {
        this.usage = usage;
    }

    /**
     * Whether the usage seen is the response's final usage (a whole JSON body, the usage-only stream chunk, a
     * {@code response.completed} event) rather than the running total of a stream's chunks.
     */
    public boolean finalUsageSeen() {
        return finalUsage;
    }

    void finalUsage() {
        finalUsage = true;
    }

    void markError() {
        errorSeen = true;
    }
}
