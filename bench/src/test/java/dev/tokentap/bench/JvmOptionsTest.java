package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.proxy.TapProxyTraining;
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

        List<String> options = new ArrayList<>(JvmOptions.TAP_PROXY);
        options.add("-XX:SharedArchiveFile=" + JvmOptions.IMAGE_ARCHIVE);
        assertThat(words.subList(1, words.indexOf("-jar"))).containsExactlyElementsOf(options);
        JvmOptions.TAP_PROXY_ENVIRONMENT.forEach((name, value) ->
                assertThat(dockerfile).contains("ENV " + name + "=" + value));
    }

    @Test
    void shouldTrainTheImagesArchiveWithTheSameOptionsAndJarTheProxyStartsWith() throws IOException {
        String dockerfile = Files.readString(DOCKERFILE).replaceAll("\\\\\n\\s*", "");
        Matcher training = Pattern.compile("&& java ((?:\\S+ )+?)-XX:ArchiveClassesAtExit=(\\S+) -cp (\\S+) (\\S+)")
                .matcher(dockerfile);
        assertThat(training.find()).as("a training run under -XX:ArchiveClassesAtExit").isTrue();

        assertThat(training.group(1).strip().split(" ")).containsExactlyElementsOf(JvmOptions.TAP_PROXY);
        assertThat(training.group(2)).isEqualTo(JvmOptions.IMAGE_ARCHIVE);
        // the archive holds the class path it was made with: the jar the entry point runs with -jar
        assertThat(dockerfile).contains("\"-jar\", \"" + training.group(3) + "\"]");
        assertThat(training.group(4)).isEqualTo(TapProxyTraining.class.getName());
        // and the build fails rather than ship an image whose entry point names a missing archive
        assertThat(dockerfile).contains("test -s " + JvmOptions.IMAGE_ARCHIVE);
    }
}
