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

    /** Every source this version knows. */
    public static final Set<String> ALL = Set.of(REPORTED, PARTIAL, NONE, INVALID);

    private UsageSource() {
    }
}
