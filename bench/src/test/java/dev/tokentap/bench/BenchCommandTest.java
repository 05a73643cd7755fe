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
    void shouldStartAProxyVariantWithItsOptionsAfterTheProxys() {
        BenchCommand command = new BenchCommand();
        command.proxyVariants = java.util.List.of("tap-proxy-small=-Xmx64m -Xmn16m");

        WarmupScenario.Variant variant = command.proxyVariants().get(0);

        assertThat(variant.name()).isEqualTo("tap-proxy-small");
        assertThat(variant.jvmOptions(JvmOptions.TAP_PROXY, null)).startsWith(JvmOptions.TAP_PROXY.toArray(String[]::new))
                .endsWith("-Xmx64m", "-Xmn16m");
        assertThat(new Target(variant.name(), java.net.URI.create("http://127.0.0.1:1"), null).tokentapProxy())
                .isTrue();
    }

    @Test
    void shouldRefuseAProxyVariantNotNamedAsATapProxy() {
        BenchCommand command = new BenchCommand();
        command.proxyVariants = java.util.List.of("small=-Xmx64m");

        assertThatThrownBy(command::proxyVariants).hasMessageContaining("tap-proxy-");
    }

    @Test
    void shouldMakeEveryClassPathEntryAbsolute() {
        String classPath = ChildProcess.absoluteClassPath("lib/a.jar" + java.io.File.pathSeparator + "/opt/b.jar");

        assertThat(classPath.split(java.io.File.pathSeparator)).allSatisfy(entry -> assertThat(entry).startsWith("/"));
    }
}
