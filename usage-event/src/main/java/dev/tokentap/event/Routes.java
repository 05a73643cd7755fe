package dev.tokentap.event;

import java.util.List;
import java.util.Set;

/**
 * The one list of vLLM routes that consume tokens, i.e. the values {@link UsageEvent#route()} takes besides
 * {@link #OTHER}. The proxy meters exactly these; the aggregator uses them as the bounded set of {@code full_path}
 * label values. Adding a route here adds a label value everywhere, so the list stays short.
 *
 * <p>Derived from vLLM's router files ({@code @router}/{@code @app} paths under {@code vllm/entrypoints}) at vLLM
 * main commit {@code 52a31ccecca203effd490a5b496dc5f8d9496654} (2026-05-27), checked against release v0.10.0
 * ({@code openai/api_server.py}): every HTTP route whose answer is paid for in tokens is here; the realtime
 * WebSocket ({@code /v1/realtime}) is metered apart, per session. Routes that only tokenise, render templates,
 * list models or manage the server are in {@link #NOT_METERED}.
 */
public final class Routes {

    public static final String CHAT_COMPLETIONS = "/v1/chat/completions";
    public static final String COMPLETIONS = "/v1/completions";
    public static final String RESPONSES = "/v1/responses";
    /** {@code GET /v1/responses/{id}}: a stored response read back, with its usage. */
    public static final String RESPONSES_GET = "/v1/responses/{id}";
    public static final String EMBEDDINGS = "/v1/embeddings";
    public static final String POOLING = "/pooling";
    public static final String CLASSIFY = "/classify";
    public static final String SCORE = "/score";
    public static final String V1_SCORE = "/v1/score";
    public static final String RERANK = "/rerank";
    public static final String V1_RERANK = "/v1/rerank";
    public static final String V2_RERANK = "/v2/rerank";
    public static final String AUDIO_TRANSCRIPTIONS = "/v1/audio/transcriptions";
    public static final String AUDIO_TRANSLATIONS = "/v1/audio/translations";
    /** SageMaker-style entry point: the body decides which handler answers. */
    public static final String INVOCATIONS = "/invocations";
    /** The realtime WebSocket ({@code GET} with an upgrade): one event per session. */
    public static final String REALTIME = "/v1/realtime";
    /** Anthropic's Messages API, served by vLLM's chat code. */
    public static final String MESSAGES = "/v1/messages";
    /** Cohere's embed API: usage in {@code meta.billed_units}. */
    public static final String V2_EMBED = "/v2/embed";
    /** Several chat conversations in one non-streaming request, usage summed. */
    public static final String CHAT_COMPLETIONS_BATCH = "/v1/chat/completions/batch";
    /** Tokens in, tokens out: the disaggregated-serving entry point; its non-streaming answer reports no usage. */
    public static final String GENERATE = "/inference/v1/generate";
    /** Scores items by the probability of a generated token: one completion token per item. */
    public static final String GENERATIVE_SCORING = "/generative_scoring";
    /** A route not in the list that nevertheless returned a usage object. */
    public static final String OTHER = "other";

    /** Every metered route, in the order the docs list them. */
    public static final List<String> METERED = List.of(CHAT_COMPLETIONS, COMPLETIONS, RESPONSES, RESPONSES_GET,
            MESSAGES, CHAT_COMPLETIONS_BATCH, EMBEDDINGS, V2_EMBED, POOLING, CLASSIFY, SCORE, V1_SCORE, RERANK,
            V1_RERANK, V2_RERANK, AUDIO_TRANSCRIPTIONS, AUDIO_TRANSLATIONS, INVOCATIONS, GENERATE, GENERATIVE_SCORING,
            REALTIME);

    /** Routes vLLM serves that are forwarded but never metered, even if they were to return a usage object. */
    public static final Set<String> NOT_METERED = Set.of("/v1/models", "/tokenize", "/detokenize",
            "/tokenizer_info", "/v1/messages/count_tokens", "/v1/chat/completions/render", "/v1/completions/render",
            "/health", "/ready", "/readyz", "/ping", "/version", "/load", "/server_info", "/metrics", "/docs",
            "/is_sleeping", "/is_paused", "/get_world_size", "/is_scaling_elastic_ep");

    private static final Set<String> METERED_SET = Set.copyOf(METERED);

    private Routes() {
    }

    /** {@code route} if it is one of {@link #METERED}, else {@link #OTHER}: a bounded label value. */
    public static String fullPath(String route) {
        return route != null && METERED_SET.contains(route) ? route : OTHER;
    }
}
