package dev.tokentap.proxy.usage;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MeteredRoutesTest {

    private static String routeOf(String method, String rawPath) {
        return MeteredRoutes.meteredRoute(method, MeteredRoutes.normalise(MeteredRoutes.forwardPath(rawPath)));
    }

    @ParameterizedTest
    @CsvSource({
        "/v1/chat/completions, /v1/chat/completions",
        "//v1/./chat/completions, /v1/chat/completions",
        "/v1//chat///completions, /v1/chat/completions",
        "/v1/x/../chat/completions, /v1/chat/completions",
        "/v1/chat%2Fcompletions, /v1/chat/completions",
        "/v1/%63hat/completions, /v1/chat/completions",
        "/v1/completions, /v1/completions",
        "/./v1/completions, /v1/completions",
        "/v1/embeddings, /v1/embeddings",
        "//v1/./embeddings, /v1/embeddings",
        "/v1/responses, /v1/responses",
        "/pooling, /pooling",
        "/classify, /classify",
        "/score, /score",
        "/v1/score, /v1/score",
        "/rerank, /rerank",
        "/v1/rerank, /v1/rerank",
        "/v2/rerank, /v2/rerank",
        "/v1/audio/transcriptions, /v1/audio/transcriptions",
        "/v1/audio//translations, /v1/audio/translations",
        "/invocations, /invocations"
    })
    void shouldMeterEverySpellingOfAMeteredRoute(String raw, String route) {
        assertThat(routeOf("POST", raw)).isEqualTo(route);
    }

    @ParameterizedTest
    @CsvSource({
        "GET, /v1/models",
        "POST, /tokenize",
        "POST, /detokenize",
        "GET, /health",
        "GET, /ping",
        "POST, /ping",
        "GET, /version",
        "GET, /load",
        "GET, /metrics",
        "GET, /./metrics"
    })
    void shouldOnlyForwardTheRoutesThatNeverCarryUsage(String method, String raw) {
        assertThat(routeOf(method, raw)).isNull();
    }

    @ParameterizedTest
    @CsvSource({
        "POST, /v1/chat/completions/",
        "POST, /v1/chat/completionsx",
        "GET, /v1/chat/completions",
        "POST, /v2/chat/completions",
        "GET, /v1/responses/resp_1/input_items",
        "POST, /v1/something/new"
    })
    void shouldObserveUnknownRoutesAsOther(String method, String raw) {
        assertThat(routeOf(method, raw)).isEqualTo(MeteredRoutes.OTHER);
    }

    @Test
    void shouldMeterReadingAStoredResponseBack() {
        assertThat(routeOf("GET", "/v1/responses/resp_abc123")).isEqualTo("/v1/responses/{id}");
        assertThat(routeOf("GET", "//v1/responses/./resp_abc123")).isEqualTo("/v1/responses/{id}");
    }

    @ParameterizedTest
    @CsvSource({
        "//v1/./chat/completions, /v1/chat/completions",
        "/v1/models, /v1/models",
        "/a/b/../c, /a/c",
        "/v1/chat%2Fcompletions, /v1/chat%2Fcompletions"
    })
    void shouldForwardANormalisedStillEncodedPath(String raw, String forwarded) {
        assertThat(MeteredRoutes.forwardPath(raw)).isEqualTo(forwarded);
    }

    @ParameterizedTest
    @CsvSource({"/../etc/passwd", "/v1/../../x"})
    void shouldRefusePathsAboveTheRoot(String raw) {
        assertThat(MeteredRoutes.forwardPath(raw)).isNull();
    }
}
