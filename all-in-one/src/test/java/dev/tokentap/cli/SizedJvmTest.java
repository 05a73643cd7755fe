package dev.tokentap.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class SizedJvmTest {

    private static final Optional<String> JAVA = Optional.of("/usr/bin/java");
    private static final String JAR = "/opt/tokentap.jar";

    @Test
    void shouldStartRunAgainInASizedJvmWithItsArgumentsAndTheJvmsOwnOptions() {
        List<String> command = SizedJvm.command(new String[] {"run", "--upstream", "http://vllm:8000"},
                List.of("-Dlogback.configurationFile=x.xml"), JAVA, JAR, null).orElseThrow();

        assertThat(command).startsWith("/usr/bin/java").containsSubsequence(SizedJvm.OPTIONS)
                .contains("-Dlogback.configurationFile=x.xml", "-D" + SizedJvm.SIZED_PROPERTY + "=true")
                .containsSubsequence("-cp", JAR, TokentapMain.class.getName(), "run", "--upstream",
                        "http://vllm:8000")
                .anyMatch(option -> option.startsWith("-Xmx"));
    }

    @Test
    void shouldSizeDemoToo() {
        assertThat(SizedJvm.command(new String[] {"demo"}, List.of(), JAVA, JAR, null)).isPresent();
    }

    @Test
    void shouldLeaveAJvmGivenAHeapSizeOfItsOwnAsItIs() {
        assertThat(SizedJvm.command(new String[] {"run"}, List.of("-Xmx1g"), JAVA, JAR, null)).isEmpty();
        assertThat(SizedJvm.command(new String[] {"run"}, List.of("-XX:MaxRAMPercentage=50"), JAVA, JAR, null))
                .isEmpty();
    }

    @Test
    void shouldNotStartAnotherFromTheJvmItStarted() {
        assertThat(SizedJvm.command(new String[] {"run"}, List.of(), JAVA, JAR, "true")).isEmpty();
    }

    @Test
    void shouldRunShortCommandsInThisJvm() {
        assertThat(SizedJvm.command(new String[] {"bench"}, List.of(), JAVA, JAR, null)).isEmpty();
        assertThat(SizedJvm.command(new String[] {"sim"}, List.of(), JAVA, JAR, null)).isEmpty();
        assertThat(SizedJvm.command(new String[0], List.of(), JAVA, JAR, null)).isEmpty();
    }

    @Test
    void shouldRunInThisJvmWhenTheJavaBinaryIsUnknown() {
        assertThat(SizedJvm.command(new String[] {"run"}, List.of(), Optional.empty(), JAR, null)).isEmpty();
    }
}
