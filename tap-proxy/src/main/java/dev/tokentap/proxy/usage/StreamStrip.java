package dev.tokentap.proxy.usage;

/**
 * What to remove from one stream the proxy asked usage of, so the client sees what vLLM would have sent it: the
 * usage-only chunk unless the client would have had it, each chunk's running usage unless it would have had that,
 * and (current vLLM) the {@code system_fingerprint} to put back on terminal chunks. With {@link VllmGeneration#AUTO}
 * the generation, and so the answer, is settled by the stream's first content chunk.
 */
public final class StreamStrip {

    private final StreamUsagePolicy policy;
    private final ClientStreamOptions options;
    private final boolean forceIncludeUsage;
    private VllmGeneration generation;
    private boolean dropUsageOnly;
    private ChunkUsageSplice.Mode chunkUsage;
    private boolean restoreFingerprint;

    private StreamStrip(StreamUsagePolicy policy, ClientStreamOptions options, VllmGeneration generation,
                        boolean forceIncludeUsage) {
        this.policy = policy;
        this.options = options;
        this.forceIncludeUsage = forceIncludeUsage;
        if (generation != VllmGeneration.AUTO) {
            settle(generation);
        }
    }

    /**
     * @param policy            the route's
     * @param options           what the client sent
     * @param generation        the operator's {@code --vllm-generation}
     * @param forceIncludeUsage the operator's {@code --vllm-force-include-usage}
     */
    public static StreamStrip of(StreamUsagePolicy policy, ClientStreamOptions options, VllmGeneration generation,
                                 boolean forceIncludeUsage) {
        return new StreamStrip(policy, options, generation, forceIncludeUsage);
    }

    /** A fixed answer: drop the usage-only chunk or not, and treat chunk usage as {@code chunkUsage}. */
    public static StreamStrip fixed(boolean dropUsageOnly, ChunkUsageSplice.Mode chunkUsage) {
        StreamStrip strip = new StreamStrip(null, null, VllmGeneration.AUTO, false);
        strip.generation = VllmGeneration.LEGACY;
        strip.dropUsageOnly = dropUsageOnly;
        strip.chunkUsage = chunkUsage;
        return strip;
    }

    private void settle(VllmGeneration settled) {
        generation = settled;
        ClientStreamOptions.View view = options.view(settled, forceIncludeUsage, policy.forceApplies());
        dropUsageOnly = !view.usageChunk();
        chunkUsage = view.continuousUsage() ? ChunkUsageSplice.Mode.KEEP : policy.chunkUsage(settled);
        restoreFingerprint = settled == VllmGeneration.CURRENT && !view.usageChunk() && policy.fingerprintOnTerminal();
    }

    /** Whether the generation is known. */
    public boolean settled() {
        return generation != null;
    }

    /** Settles the generation from a content chunk, if it is not known yet. */
    public void settleFrom(byte[] event, int from, int to) {
        if (generation == null) {
            settle(VllmGeneration.detect(event, from, to));
        }
    }

    /** The generation the stream was judged by; null until settled. */
    public VllmGeneration generation() {
        return generation;
    }

    /** Whether the usage-only chunk is the proxy's doing (settles on current vLLM if nothing came before it). */
    public boolean dropUsageOnly() {
        if (generation == null) {
            // a stream whose first chunk is its usage: nothing to tell by, current is the default
            settle(VllmGeneration.CURRENT);
        }
        return dropUsageOnly;
    }

    /** What to do with a content chunk's {@code usage}. */
    public ChunkUsageSplice.Mode chunkUsage() {
        return chunkUsage == null ? ChunkUsageSplice.Mode.KEEP : chunkUsage;
    }

    /** Whether terminal chunks wait for the usage-only chunk's fingerprint. */
    public boolean restoreFingerprint() {
        return restoreFingerprint;
    }
}
