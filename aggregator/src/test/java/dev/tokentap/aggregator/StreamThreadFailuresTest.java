package dev.tokentap.aggregator;

import static org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
import static org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.apache.kafka.streams.errors.StreamsException;
import org.junit.jupiter.api.Test;

class StreamThreadFailuresTest {

    private Instant now = Instant.parse("2025-01-01T00:00:00Z");
    private final StreamThreadFailures failures = new StreamThreadFailures(2, Duration.ofMinutes(5),
            new Clock() {
                @Override
                public ZoneOffset getZone() {
                    return ZoneOffset.UTC;
                }

                @Override
                public Clock withZone(java.time.ZoneId zone) {
                    return this;
                }

                @Override
                public Instant instant() {
                    return now;
                }
            });

    @Test
    void shouldReplaceAThreadUntilItDiesTooOftenWithinTheWindow() {
        assertThat(failures.handle(new StreamsException("broker gone"))).isEqualTo(REPLACE_THREAD);
        now = now.plusSeconds(60);
        assertThat(failures.handle(new StreamsException("broker gone"))).isEqualTo(REPLACE_THREAD);
        now = now.plusSeconds(60);
        assertThat(failures.handle(new StreamsException("broker gone"))).isEqualTo(SHUTDOWN_CLIENT);
    }

    @Test
    void shouldForgetFailuresOlderThanTheWindow() {
        failures.handle(new StreamsException("1"));
        failures.handle(new StreamsException("2"));
        now = now.plus(Duration.ofMinutes(6));

        assertThat(failures.handle(new StreamsException("3"))).isEqualTo(REPLACE_THREAD);
    }

    @Test
    void shouldShutDownOnAnError() {
        assertThat(failures.handle(new StreamsException(new OutOfMemoryError("heap")))).isEqualTo(SHUTDOWN_CLIENT);
    }
}
