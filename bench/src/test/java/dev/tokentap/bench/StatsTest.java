package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

class StatsTest {

    @Test
    void shouldTakeTheMiddleValueOrTheMeanOfTheMiddleTwo() {
        assertThat(Stats.median(List.of(5.0, 1.0, 3.0))).isEqualTo(3.0);
        assertThat(Stats.median(List.of(4.0, 1.0, 3.0, 2.0))).isEqualTo(2.5);
        assertThat(Stats.median(List.of())).isNaN();
    }

    @Test
    void shouldCompareRoundByRoundBeforeTakingTheMedian() {
        List<Double> direct = List.of(100.0, 200.0, 150.0);
        List<Double> proxy = List.of(110.0, 260.0, 152.0);

        assertThat(Stats.medianDifference(proxy, direct)).isEqualTo(10.0);
        assertThat(Stats.medianRatio(proxy, direct)).isCloseTo(1.1, within(1e-9));
    }

    @Test
    void shouldSkipRoundsWhereDirectServedNothing() {
        assertThat(Stats.medianRatio(List.of(5.0, 9.0), List.of(0.0, 10.0))).isCloseTo(0.9, within(1e-9));
        assertThat(Stats.ratio(1, 0)).isNaN();
    }

    @Test
    void shouldReportHistogramsOfNanosecondsInMicroseconds() {
        Histogram h = Percentiles.newNanosHistogram();
        for (int i = 1; i <= 100; i++) {
            h.recordValue(i * 1_000L);
        }

        Percentiles p = Percentiles.ofNanos(h);

        assertThat(p.count()).isEqualTo(100);
        assertThat(p.p50()).isCloseTo(50.0, within(0.1));
        assertThat(p.p99()).isCloseTo(99.0, within(0.1));
        assertThat(p.max()).isCloseTo(100.0, within(0.1));
        assertThat(Percentiles.ofNanos(Percentiles.newNanosHistogram())).isEqualTo(Percentiles.EMPTY);
    }
}
