package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.aggregator.k8s.PodIdentity;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class DirectoryReadinessTest {

    private final AtomicBoolean synced = new AtomicBoolean();
    private final MutableClock clock = new MutableClock();
    private final PodDirectory watching = new PodDirectory() {
        @Override
        public PodIdentity lookup(String ip, long epochMillis) {
            return null;
        }

        @Override
        public boolean synced() {
            return synced.get();
        }

        @Override
        public long currentAsOf() {
            return -1;
        }

        @Override
        public boolean watchesKubernetes() {
            return true;
        }
    };

    @Test
    void shouldWaitForTheFirstSync() {
        DirectoryReadiness ready = new DirectoryReadiness(watching, Duration.ofSeconds(30), clock);

        assertThat(ready.getAsBoolean()).isFalse();
        synced.set(true);
        assertThat(ready.getAsBoolean()).isTrue();
        synced.set(false);
        assertThat(ready.getAsBoolean()).as("a later broken watch does not make it unready").isTrue();
    }

    @Test
    void shouldStopWaitingAfterTheSyncTimeout() {
        DirectoryReadiness ready = new DirectoryReadiness(watching, Duration.ofSeconds(30), clock);

        clock.now = clock.now.plusSeconds(29);
        assertThat(ready.getAsBoolean()).isFalse();
        clock.now = clock.now.plusSeconds(1);
        assertThat(ready.getAsBoolean()).isTrue();
    }

    @Test
    void shouldNotWaitWithoutKubernetes() {
        assertThat(new DirectoryReadiness(PodDirectory.NONE, Duration.ofSeconds(30), clock).getAsBoolean()).isTrue();
    }

    static final class MutableClock extends Clock {
        Instant now = Instant.parse("2026-01-01T00:00:00Z");

        @Override
        public ZoneId getZone() {
            return ZoneId.of("UTC");
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
