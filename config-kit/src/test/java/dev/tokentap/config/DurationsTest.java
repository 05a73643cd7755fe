package dev.tokentap.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class DurationsTest {

    @Test
    void shouldReadANumberWithItsUnit() {
        assertThat(Durations.parse("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(Durations.parse("30s")).isEqualTo(Duration.ofSeconds(30));
        assertThat(Durations.parse("5m")).isEqualTo(Duration.ofMinutes(5));
        assertThat(Durations.parse("24h")).isEqualTo(Duration.ofHours(24));
        assertThat(Durations.parse("2d")).isEqualTo(Duration.ofDays(2));
        assertThat(Durations.parse(" 10 S ")).isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void shouldReadIso8601() {
        assertThat(Durations.parse("PT0.5S")).isEqualTo(Duration.ofMillis(500));
        assertThat(Durations.parse("pt2m")).isEqualTo(Duration.ofMinutes(2));
    }

    @Test
    void shouldRefuseABareNumberInEveryProcessAlike() {
        // tap-proxy read 30 as seconds, the aggregator and the launcher as milliseconds: now neither
        assertThatThrownBy(() -> Durations.parse("30"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("'30' has no unit: write it as 30ms, 30s or 30m");
    }

    @Test
    void shouldTakeZeroWithoutAUnit() {
        assertThat(Durations.parse("0")).isZero();
        assertThat(Durations.parse("00")).isZero();
    }

    @Test
    void shouldSayWhatADurationLooksLike() {
        assertThatThrownBy(() -> Durations.parse("soon"))
                .hasMessageContaining("'soon' is not a duration")
                .hasMessageContaining("30s");
        assertThatThrownBy(() -> Durations.parse("-5s")).hasMessageContaining("is not a duration");
        assertThatThrownBy(() -> Durations.parse("1.5s")).hasMessageContaining("is not a duration");
    }
}
