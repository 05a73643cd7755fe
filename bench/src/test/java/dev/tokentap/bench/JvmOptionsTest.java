package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class JvmOptionsTest {

    private static final Path DOCKERFILE = Path.of("..", "deploy", "images", "tap-proxy.Dockerfile");

    @Test
    void shouldStartTheImagesProxyWithTheOptionsTheBenchMeasures() throws IOException {
        String dockerfile = Files.readString(DOCKERFILE);
        Matcher entrypoint = Pattern.compile("(?m)^ENTRYPOINT \\[(.*)]$").matcher(dockerfile);
        assertThat(entrypoint.find()).as("an ENTRYPOINT in exec form").isTrue();
        List<String> words = new ArrayList<>();
        Matcher quoted = Pattern.compile("\"([^\"]*)\"").matcher(entrypoint.group(1));
        while (quoted.find()) {
            words.add(quoted.group(1));
        }

        assertThat(words.subList(1, words.indexOf("-jar"))).containsExactlyElementsOf(JvmOptions.TAP_PROXY);
        JvmOptions.TAP_PROXY_ENVIRONMENT.forEach((name, value) ->
                assertThat(dockerfile).contains("ENV " + name + "=" + value));
    }
}
