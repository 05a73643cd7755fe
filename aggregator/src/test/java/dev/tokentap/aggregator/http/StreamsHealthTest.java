package dev.tokentap.aggregator.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.apache.kafka.streams.KafkaStreams.State;
import org.junit.jupiter.api.Test;

class StreamsHealthTest {

    private final StreamsHealth health = new StreamsHealth();

    @Test
    void shouldBeHealthyButNotReadyWhileStarting() {
        health.onChange(State.REBALANCING, State.CREATED);

        assertThat(health.healthy()).isTrue();
        assertThat(health.ready()).isFalse();
    }

    @Test
    void shouldStayReadyThroughALaterRebalance() {
        health.onChange(State.REBALANCING, State.CREATED);
        health.onChange(State.RUNNING, State.REBALANCING);
        health.onChange(State.REBALANCING, State.RUNNING);

        assertThat(health.ready()).isTrue();
        assertThat(health.state()).isEqualTo(State.REBALANCING);
    }

    @Test
    void shouldBeNeitherHealthyNorReadyAfterAnError() {
        health.onChange(State.RUNNING, State.REBALANCING);
        health.onChange(State.PENDING_ERROR, State.RUNNING);

        assertThat(health.healthy()).isFalse();
        assertThat(health.ready()).isFalse();
        health.onChange(State.ERROR, State.PENDING_ERROR);
        assertThat(health.healthy()).isFalse();
    }

    @Test
    void shouldStopWaitingForRunningWhenStreamsFails() throws InterruptedException {
        health.onChange(State.ERROR, State.CREATED);

        assertThat(health.awaitRunning(Duration.ofSeconds(10))).isFalse();
    }

    @Test
    void shouldReturnFromWaitingOnceRunning() throws InterruptedException {
        Thread later = new Thread(() -> health.onChange(State.RUNNING, State.REBALANCING));
        later.start();

        assertThat(health.awaitRunning(Duration.ofSeconds(10))).isTrue();
        later.join();
    }
}
