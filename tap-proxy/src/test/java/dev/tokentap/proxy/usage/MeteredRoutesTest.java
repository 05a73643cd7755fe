package dev.tokentap.proxy.usage;

import static org.assertj.core.api.Assertions.assertThat;

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
        "/./v1/completions, /v1/completions"
    })
    void shouldMeterEverySpellingOfAMeteredRoute(String raw, String route) {
        assertThat(routeOf("POST", raw)).isEqualTo(route);
    }

    @ParameterizedTest
    @CsvSource({
        "POST, /v1/embeddings",
        "POST, /v1/chat/completions/",
        "POST, /v1/chat/completionsx",
        "GET, /v1/chat/completions",
        "POST, /v2/chat/completions",
        "POST, /health"
    })
    void shouldNotMeterOtherRoutes(String method, String raw) {
        assertThat(routeOf(method, raw)).isNull();
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
