package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SaturationLadderTest {

    @Test
    void shouldKeepClimbingWhileThroughputGrows() {
        SaturationLadder ladder = new SaturationLadder();

        assertThat(ladder.record(100)).isFalse();
        assertThat(ladder.record(190)).isFalse();
        assertThat(ladder.record(350)).isFalse();
    }

    @Test
    void shouldStopAfterTwoFlatStepsInARow() {
        SaturationLadder ladder = new SaturationLadder();
        ladder.record(100);
        ladder.record(200);

        assertThat(ladder.record(204)).isFalse();
        assertThat(ladder.record(206)).isTrue();
        assertThat(ladder.best()).isEqualTo(206);
        assertThat(ladder.stopped()).isTrue();
    }

    @Test
    void shouldForgiveOneFlatStepFollowedByGrowth() {
        SaturationLadder ladder = new SaturationLadder();
        ladder.record(100);
        ladder.record(102);

        assertThat(ladder.record(130)).isFalse();
        assertThat(ladder.record(200)).isFalse();
    }

    @Test
    void shouldMeasureGrowthAgainstTheBestLevelSoThatADipCountsAsFlat() {
        SaturationLadder ladder = new SaturationLadder();
        ladder.record(1000);
        ladder.record(600);

        assertThat(ladder.record(1040)).isTrue();
    }
}
