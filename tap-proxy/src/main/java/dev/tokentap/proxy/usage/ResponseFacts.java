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
    // written by the one thread handling a chunk at a time, read when the exchange ends
    private volatile long generatedTokenIds;
    private volatile String status;
    private volatile Boolean background;
    // written by the one thread handling a chunk at a time, read when the exchange ends
    private final java.util.Map<Integer, Usage> byChoice = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * Token counts as vLLM reported them; a field is null when it was not reported.
     *
     * @param completionReported whether {@code completion_tokens} (or {@code output_tokens}) was a number
     * @param audioSeconds       the seconds of a {@code {"type":"duration"}} usage object, which counts no tokens
     * @param invalid            the usage object held something that is not a count (see {@link UsageExtractor});
     *                           every other field is then null
     */
    public record Usage(Long promptTokens, Long completionTokens, Long totalTokens, Long cachedTokens,
                        Long reasoningTokens, boolean completionReported, Double audioSeconds, boolean invalid) {

        /** A usage object none of whose counts can be trusted. */
        public static final Usage INVALID = new Usage(null, null, null, null, null, false, null, true);

        /** A valid usage object. */
        public Usage(Long promptTokens, Long completionTokens, Long totalTokens, Long cachedTokens,
                     Long reasoningTokens, boolean completionReported, Double audioSeconds) {
            this(promptTokens, completionTokens, totalTokens, cachedTokens, reasoningTokens, completionReported,
                    audioSeconds, false);
        }

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
        usage(usage, -1);
    }

    /** A usage object; {@code choice} is the index of the one choice its chunk carried, or -1. */
    void usage(Usage usage, int choice) {
        this.usage = usage;
        if (choice >= 0) {
            byChoice.put(choice, usage);
        }
    }

    /**
     * The usage so far of a stream that ended before its final usage: vLLM's running usage is per choice, so with
     * {@code n > 1} the completion tokens of every choice's last chunk are added up; the prompt is counted once (the
     * largest prompt any choice reported). Without per-choice usage, the last usage object. Invalid when any choice's
     * usage was, or when the sum passes {@link dev.tokentap.event.UsageEvent#MAX_USAGE}.
     */
    public Usage runningUsage() {
        if (byChoice.size() <= 1) {
            return usage;
        }
        long prompt = 0;
        long completion = 0;
        for (Usage u : byChoice.values()) {
            if (u.invalid()) {
                return Usage.INVALID;
            }
            prompt = Math.max(prompt, u.promptTokens() == null ? 0 : u.promptTokens());
            // each at most MAX_USAGE: the sum of any number of choices a request can have stays far from overflow
            completion += u.completionTokens() == null ? 0 : u.completionTokens();
        }
        if (prompt + completion > dev.tokentap.event.UsageEvent.MAX_USAGE) {
            return Usage.INVALID;
        }
        return new Usage(prompt, completion, prompt + completion, null, null, true, null);
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

    /**
     * How many elements the {@code choices[].token_ids} arrays of the response held, over all its chunks: the
     * tokens an {@code /inference/v1/generate} answer generated, which it does not report as usage.
     */
    public long generatedTokenIds() {
        return generatedTokenIds;
    }

    void generatedTokenId() {
        generatedTokenIds++;
    }

    /** The Responses API {@code status} of the last response object seen ({@code queued}, {@code completed}…), or null. */
    public String status() {
        return status;
    }

    void status(String value) {
        status = value;
    }

    /** The Responses API {@code background} flag of the last response object seen, or null. */
    public Boolean background() {
        return background;
    }

    void background(boolean value) {
        background = value;
    }

    void markError() {
        errorSeen = true;
    }
}
