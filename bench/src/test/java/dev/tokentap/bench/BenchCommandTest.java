package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class BenchCommandTest {

    @Test
    void shouldRunEveryScenarioForAll() {
        assertThat(BenchCommand.scenarios("all")).containsExactly("latency", "streams", "saturation", "aggregator");
    }

    @Test
    void shouldKeepTheRunOrderWhateverOrderTheyAreNamedIn() {
        assertThat(BenchCommand.scenarios("saturation, LATENCY,latency")).containsExactly("latency", "saturation");
    }

    @Test
    void shouldRunWarmupOnlyWhenNamedAndAfterTheOthers() {
        assertThat(BenchCommand.scenarios("warmup,all")).containsExactly("latency", "streams", "saturation",
                "aggregator", "warmup");
        assertThat(BenchCommand.scenarios("warmup")).containsExactly("warmup");
    }

    @Test
    void shouldNameTheScenariosWhenGivenAnUnknownOne() {
        assertThatThrownBy(() -> BenchCommand.scenarios("throughput"))
                .hasMessageContaining("throughput").hasMessageContaining("latency");
    }

    @Test
    void shouldMakeEveryClassPathEntryAbsolute() {
        String classPath = ChildProcess.absoluteClassPath("lib/a.jar" + java.io.File.pathSeparator + "/opt/b.jar");

        assertThat(classPath.split(java.io.File.pathSeparator)).allSatisfy(entry -> assertThat(entry).startsWith("/"));
    }
}
