package dev.tokentap.event;

import java.util.List;
import java.util.Set;

/**
 * The one list of vLLM routes that consume tokens, i.e. the values {@link UsageEvent#route()} takes besides
 * {@link #OTHER}. The proxy meters exactly these; the aggregator uses them as the bounded set of {@code full_path}
 * label values. Adding a route here adds a label value everywhere, so the list stays short.
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
    /** A route not in the list that nevertheless returned a usage object. */
    public static final String OTHER = "other";

    /** Every metered route, in the order the docs list them. */
    public static final List<String> METERED = List.of(CHAT_COMPLETIONS, COMPLETIONS, RESPONSES, RESPONSES_GET,
            EMBEDDINGS, POOLING, CLASSIFY, SCORE, V1_SCORE, RERANK, V1_RERANK, V2_RERANK, AUDIO_TRANSCRIPTIONS,
            AUDIO_TRANSLATIONS, INVOCATIONS, REALTIME);

    /** Routes vLLM serves that are forwarded but never metered, even if they were to return a usage object. */
    public static final Set<String> NOT_METERED = Set.of("/v1/models", "/tokenize", "/detokenize", "/health",
            "/ping", "/version", "/load", "/metrics");

    private static final Set<String> METERED_SET = Set.copyOf(METERED);

    private Routes() {
    }

    /** {@code route} if it is one of {@link #METERED}, else {@link #OTHER}: a bounded label value. */
    public static String fullPath(String route) {
        return route != null && METERED_SET.contains(route) ? route : OTHER;
    }
}
