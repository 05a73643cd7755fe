package dev.tokentap.proxy.usage;

/**
 * How one route's streams are made to report usage and how that is undone for the client: which JSON member of the
 * request turns usage on, what its chunks look like without the running usage (per generation), and whether vLLM
 * would have put {@code system_fingerprint} on the terminal chunks had usage been off. Routes that report usage on
 * their own (Responses, Anthropic messages) have none.
 *
 * @param member                the request's top-level member that asks for usage ({@code stream_options})
 * @param currentChunkUsage     what a content chunk's {@code usage} becomes without continuous stats, current vLLM
 * @param legacyChunkUsage      the same on legacy vLLM
 * @param fingerprintOnTerminal current vLLM puts the fingerprint on terminal chunks when usage is off
 * @param forceApplies          the route honours {@code --enable-force-include-usage}
 * @param beamSearchStreams     a stream with {@code use_beam_search} is streamed (chat); completions answer it with
 *                              a 400 (current) or one whole response with its usage (legacy): nothing to ask for
 */
public record StreamUsagePolicy(String member, ChunkUsageSplice.Mode currentChunkUsage,
                                ChunkUsageSplice.Mode legacyChunkUsage, boolean fingerprintOnTerminal,
                                boolean forceApplies, boolean beamSearchStreams) {

    /** {@code /v1/chat/completions}: chunks carry no {@code usage} member unless asked. */
    public static final StreamUsagePolicy CHAT = new StreamUsagePolicy("stream_options",
            ChunkUsageSplice.Mode.REMOVE, ChunkUsageSplice.Mode.REMOVE, true, true, true);

    /**
     * {@code /v1/completions}: current vLLM writes chunks with {@code exclude_unset} (no {@code usage} member unless
     * asked); legacy vLLM wrote every field ({@code "usage":null}).
     */
    public static final StreamUsagePolicy COMPLETIONS = new StreamUsagePolicy("stream_options",
            ChunkUsageSplice.Mode.REMOVE, ChunkUsageSplice.Mode.NULL, true, true, false);

    /**
     * {@code /inference/v1/generate} (current only): chunks are written in full, {@code "usage":null}; no fingerprint;
     * vLLM does not apply the force flag there.
     */
    public static final StreamUsagePolicy GENERATE = new StreamUsagePolicy("stream_options",
            ChunkUsageSplice.Mode.NULL, ChunkUsageSplice.Mode.NULL, false, false, true);

    /** What a content chunk's running usage becomes for a client that did not ask for it. */
    public ChunkUsageSplice.Mode chunkUsage(VllmGeneration generation) {
        return generation == VllmGeneration.LEGACY ? legacyChunkUsage : currentChunkUsage;
    }
}
