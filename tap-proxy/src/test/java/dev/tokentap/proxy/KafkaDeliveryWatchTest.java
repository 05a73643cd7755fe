package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.proxy.KafkaDeliveryWatch.Stall;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class KafkaDeliveryWatchTest {

    private static final long SECOND = Duration.ofSeconds(1).toNanos();

    private final Stall stall = new Stall(15 * SECOND);

    @Test
    void shouldWarnOnceWhenEventsHaveWaitedWithoutAnAcknowledgementAndSayWhenOneComes() {
        // given events acknowledged until t=10 s, then events waiting and none acknowledged
        assertThat(stall.observe(0, 0, 0)).isNull();
        assertThat(stall.observe(10 * SECOND, 5, 3)).isNull();

        // then: quiet under the threshold, one warning past it, then quiet again
        assertThat(stall.observe(24 * SECOND, 5, 3)).isNull();
        assertThat(stall.observe(25 * SECOND, 5, 7)).isEqualTo(Stall.Change.STALLED);
        assertThat(stall.stalledFor()).isEqualTo(Duration.ofSeconds(15));
        assertThat(stall.observe(60 * SECOND, 5, 9)).isNull();

        // and one line when an acknowledgement comes, saying for how long none had
        assertThat(stall.observe(70 * SECOND, 6, 8)).isEqualTo(Stall.Change.RESUMED);
        assertThat(stall.stalledFor()).isEqualTo(Duration.ofSeconds(60));
        assertThat(stall.observe(71 * SECOND, 9, 0)).isNull();
    }

    @Test
    void shouldNotCountTimeWhenNothingWaits() {
        // an idle proxy acknowledges nothing and owes nothing
        assertThat(stall.observe(0, 0, 0)).isNull();
        assertThat(stall.observe(100 * SECOND, 0, 0)).isNull();

        // events waiting since t=100 s are judged from then, not from the last acknowledgement
        assertThat(stall.observe(101 * SECOND, 0, 1)).isNull();
        assertThat(stall.observe(114 * SECOND, 0, 1)).isNull();
        assertThat(stall.observe(116 * SECOND, 0, 1)).isEqualTo(Stall.Change.STALLED);
    }

    @Test
    void shouldStayQuietWhileAcknowledgementsComeHoweverManyWait() {
        assertThat(stall.observe(0, 0, 100)).isNull();
        for (int s = 1; s <= 60; s++) {
            assertThat(stall.observe(s * SECOND, s * 10, 100)).isNull();
        }
    }
}
