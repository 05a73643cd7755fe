package dev.tokentap.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The alerting and recording rules through Prometheus' own checker: {@code promtool check rules} on the rule groups
 * as shipped, and {@code promtool test rules} with deploy/base/monitoring/prometheusrule.test.yaml. promtool comes
 * with Debian's prometheus package, which .ci/run installs when it is missing.
 */
class PromtoolIT {

    @TempDir
    Path dir;

    @Test
    void shouldPassPromtoolsCheckOfTheChartsRuleFile() throws Exception {
        Path rules = Renderers.chart().resolve("files/prometheus-rules.yaml");

        Result result = promtool("check", "rules", rules.toString());

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("SUCCESS");
    }

    @Test
    void shouldKeepTheChartsRulesAndKustomizesPrometheusRuleTheSame() {
        JsonNode kustomize = MonitoringQueries.prometheusRule().get("spec");
        JsonNode chart = Manifests.read(Renderers.chart().resolve("files/prometheus-rules.yaml")).get(0);

        assertThat(chart).isEqualTo(kustomize);
    }

    @Test
    void shouldPassTheRuleUnitTests() throws Exception {
        // given the PrometheusRule's groups as a plain rules file next to the unit tests that name it
        Files.writeString(dir.resolve("rules.yaml"),
                Manifests.YAML.writeValueAsString(MonitoringQueries.prometheusRule().get("spec")));
        Path tests = Files.copy(MonitoringQueries.ruleFile().resolveSibling("prometheusrule.test.yaml"),
                dir.resolve("prometheusrule.test.yaml"));

        // when
        Result result = promtool("test", "rules", tests.toString());

        // then
        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("SUCCESS");
    }

    private record Result(int exitCode, String output) {
    }

    private Result promtool(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("promtool"));
        command.addAll(List.of(args));
        Process process;
        try {
            process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IllegalStateException("promtool is needed (Debian: apt-get install prometheus; .ci/run does it): "
                    + e.getMessage(), e);
        }
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Result(process.exitValue(), output);
    }
}
