package dev.tokentap.testkit.sim;

import java.util.Locale;

/**
 * Which generation of vLLM the simulator answers as, in what differs between them on the wire (shapes taken from
 * the golden fixtures under tap-proxy's {@code src/test/resources/vllm-fixtures/}, made from vLLM's own classes).
 */
public enum VllmProfile {
    /**
     * vLLM main of 2026-05 (52a31cce): {@code include_usage} defaults to false when {@code stream_options} is
     * present; chat role chunks carry {@code "prompt_token_ids":null,"prompt_text":null}, chat content chunks'
     * choices {@code "token_ids":null}, completions chunks' choices {@code "prompt_token_ids":null,"token_ids":null}
     * and no {@code usage} member unless continuous stats were asked; the {@code system_fingerprint} goes on the
     * usage-only chunk when usage is on, on every terminal chunk otherwise.
     */
    CURRENT,
    /**
     * vLLM 0.6 to 0.10 (v0.10.0): usage whenever {@code stream_options} is present ({@code include_usage} defaults
     * to true), {@code "usage":null} on every completions chunk, no fingerprint in chunks.
     */
    LEGACY;

    /** The fingerprint the simulator reports under {@link #CURRENT}: the format of vLLM's {@code full} mode. */
    public static final String FINGERPRINT = "vllm-0.21.1.dev0+gsim-4f1c2a9e";

    /** Parses a flag value: current or legacy, any case. */
    public static VllmProfile parse(String value) {
        try {
            return valueOf(value.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException("--vllm-profile must be current or legacy, got '" + value + "'");
        }
    }
}
