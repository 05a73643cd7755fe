package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class WarmupScenarioTest {

    @Test
    void shouldCountWhatASlowStartFellShortOfTheSteadyRate() {
        // given a run that serves 100, 200, ... until it holds 1,000 req/s from its 10th second to its 20th
        List<WarmupScenario.Second> seconds = new ArrayList<>();
        for (int s = 1; s <= 20; s++) {
            double rate = Math.min(1000, s * 100);
            seconds.add(new WarmupScenario.Second(s, rate, 1000, 5000, 2000 - rate, 0, rate / 1000));
        }

        // when
        WarmupScenario.TargetFigures figures = WarmupScenario.figures(List.of(
                new WarmupScenario.Run(0, 1.5, 1.6, 80, seconds)));

        // then the first nine seconds served 4,500 of the 9,000 the steady rate gives
        assertThat(figures.steadyRequestsPerSecond()).isEqualTo(1000);
        assertThat(figures.served()).isEqualTo(15_500);
        assertThat(figures.shortOfSteady()).isEqualTo(4_500);
        // seconds 8, 9, 10 average 900
        assertThat(figures.secondsTo90()).isEqualTo(8);
        assertThat(figures.steadyMeanLatencyMicros()).isEqualTo(1000);
        assertThat(figures.meanLatencyMicros()).isGreaterThan(1000);
        assertThat(figures.cpuSeconds()).isEqualTo(15.5);
        assertThat(figures.readySeconds()).isEqualTo(1.5);
        assertThat(figures.curve()).hasSize(20);
    }

    @Test
    void shouldTakeTheMedianOfEachSecondOverRepetitions() {
        List<WarmupScenario.Run> runs = List.of(run(0, 100), run(1, 300), run(2, 200));

        WarmupScenario.TargetFigures figures = WarmupScenario.figures(runs);

        assertThat(figures.curve()).allSatisfy(s -> assertThat(s.requestsPerSecond()).isEqualTo(200));
        assertThat(figures.steadyRequestsPerSecond()).isEqualTo(200);
    }

    @Test
    void shouldPutTheTrainedArchiveWhereAVariantSaysCds() {
        WarmupScenario.Variant variant = WarmupScenario.Variant.parse("cds-c1 = cds -XX:TieredStopAtLevel=1");

        assertThat(variant.name()).isEqualTo("cds-c1");
        assertThat(variant.usesArchive()).isTrue();
        assertThat(variant.jvmOptions(List.of("-Xmx96m"), Path.of("/w/a.jsa")))
                .containsExactly("-Xmx96m", "-XX:SharedArchiveFile=/w/a.jsa", "-XX:TieredStopAtLevel=1");
        assertThat(WarmupScenario.Variant.parse("plain=").jvmOptions(List.of("-Xmx96m"), Path.of("/w/a.jsa")))
                .containsExactly("-Xmx96m");
    }

    @Test
    void shouldRejectAVariantWithoutAName() {
        assertThatThrownBy(() -> WarmupScenario.Variant.parse("-XX:TieredStopAtLevel=1"))
                .hasMessageContaining("NAME=JVM OPTIONS");
    }

    private static WarmupScenario.Run run(int rep, double rate) {
        List<WarmupScenario.Second> seconds = new ArrayList<>();
        for (int s = 1; s <= 12; s++) {
            seconds.add(new WarmupScenario.Second(s, rate, 1000, 2000, 1000, 0, 0.1));
        }
        return new WarmupScenario.Run(rep, 1, 1, 80, seconds);
    }
}
