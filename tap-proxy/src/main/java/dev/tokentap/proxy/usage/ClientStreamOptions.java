package dev.tokentap.proxy.usage;

/**
 * What a streaming client put in {@code stream_options}, read as vLLM reads it, and what it would therefore have
 * received from vLLM directly: the usage-only chunk ({@code include_usage}) and a {@code usage} in every chunk
 * ({@code continuous_usage_stats}). The rules differ by generation (vLLM's {@code should_include_usage} at
 * 52a31cce, {@code serving_chat.py:487-494} at v0.10.0); see docs/architecture.md.
 *
 * @param present        whether {@code stream_options} was given and not {@code null}
 * @param includeUsage   {@code include_usage}; null when absent
 * @param continuous     {@code continuous_usage_stats}; null when absent
 */
public record ClientStreamOptions(boolean present, LaxBool includeUsage, LaxBool continuous) {

    /** No {@code stream_options}, or {@code null}. */
    public static final ClientStreamOptions NONE = new ClientStreamOptions(false, null, null);

    /** What the client would have seen of usage: the usage-only chunk, and the running usage in each chunk. */
    public record View(boolean usageChunk, boolean continuousUsage) {
        /** Everything: nothing to remove. */
        public static final View ALL = new View(true, true);
    }

    /**
     * @param generation            {@link VllmGeneration#CURRENT} or {@link VllmGeneration#LEGACY}
     * @param forceIncludeUsage     the upstream runs with {@code --enable-force-include-usage}
     * @param forceApplies          whether the route honours that flag (chat and completions do; generate does not)
     */
    public View view(VllmGeneration generation, boolean forceIncludeUsage, boolean forceApplies) {
        boolean force = forceIncludeUsage && forceApplies;
        if (generation == VllmGeneration.LEGACY) {
            if (!present) {
                return new View(false, false);
            }
            // include_usage defaults to true; an explicit null is falsy; the flag only acts when options are present
            boolean include = force || (includeUsage == null ? true : includeUsage == LaxBool.TRUE);
            return new View(include, include && continuous == LaxBool.TRUE);
        }
        if (force) {
            return View.ALL;
        }
        if (!present) {
            return new View(false, false);
        }
        boolean include = includeUsage == LaxBool.TRUE;
        return new View(include, include && continuous == LaxBool.TRUE);
    }
}
