package dev.tokentap.event;

import java.util.Set;

/** The values of {@link UsageEvent#usageSource()}: where the token counts came from. */
public final class UsageSource {
    /** vLLM's final usage for the request. */
    public static final String REPORTED = "reported";
    /** The last cumulative usage seen before the stream ended early. */
    public static final String PARTIAL = "partial";
    /** No usage was seen. */
    public static final String NONE = "none";
    /**
     * The upstream reported a usage object whose counts cannot be right: negative, fractional, not a number, or
     * above {@link UsageEvent#MAX_USAGE}. The event then carries no counts at all; nothing of it may be added.
     */
    public static final String INVALID = "invalid";

    /**
     * The proxy counted the tokens itself where vLLM reports no usage: {@code /inference/v1/generate} answers carry
     * the prompt's and the generated token ids, and vLLM's own count is their number.
     */
    public static final String COUNTED = "counted";
    /**
     * A read-back of a stored response whose usage was counted before: the aggregator keeps the event as a request
     * and drops its counts, so that a response is billed once (see {@link UsageEvent#retrieval()}).
     */
    public static final String COUNTED_BEFORE = "counted_before";

    /** Every source this version knows. */
    public static final Set<String> ALL = Set.of(REPORTED, PARTIAL, NONE, INVALID, COUNTED, COUNTED_BEFORE);

    private UsageSource() {
    }
}
