package dev.tokentap.proxy.usage;

import java.util.Locale;

/**
 * Which generation of vLLM the proxy fronts: they differ in when a stream reports usage and in the bytes of its
 * chunks, so what the proxy must remove from the client's view depends on it (docs/architecture.md, "Streams").
 */
public enum VllmGeneration {
    /** Told from the first chunk of each stream (see {@link #detect}). */
    AUTO,
    /**
     * vLLM since 2026-04 (PR #40537; include_usage default false since PR #36379): {@code include_usage} is off
     * unless asked, completions chunks carry no {@code "usage":null}, chunks carry {@code token_ids}, and the
     * {@code system_fingerprint} goes on the usage-only chunk when usage is on, on the terminal chunks otherwise.
     */
    CURRENT,
    /**
     * vLLM 0.6 to 0.10: usage whenever {@code stream_options} is present ({@code include_usage} defaults to true),
     * {@code "usage":null} on every completions chunk, no fingerprint in chunks.
     */
    LEGACY;

    private static final byte[] TOKEN_IDS = "token_ids\":".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    /** Parses a flag value: auto, current or legacy, any case. */
    public static VllmGeneration parse(String value) {
        try {
            return valueOf(value.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException("--vllm-generation must be auto, current or legacy, got '" + value
                    + "'");
        }
    }

    /**
     * The generation of a chat or completions stream told from one of its content chunks: every current chunk
     * names {@code token_ids} (and {@code prompt_token_ids}), no legacy chunk does. A quote inside a JSON string is
     * escaped, so the member's name cannot be matched inside text.
     */
    public static VllmGeneration detect(byte[] event, int from, int to) {
        return ByteScan.indexOf(event, from, to, TOKEN_IDS) >= 0 ? CURRENT : LEGACY;
    }
}
