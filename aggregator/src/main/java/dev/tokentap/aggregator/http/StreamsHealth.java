package dev.tokentap.aggregator.http;

import java.time.Duration;
import java.util.Set;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KafkaStreams.State;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Health and readiness from the Kafka Streams state. Ready once Streams has been RUNNING, and it stays ready
 * through later rebalances: a rebalance is normal operation, and the last totals are still worth scraping.
 */
public final class StreamsHealth implements KafkaStreams.StateListener {

    private static final Logger LOG = LoggerFactory.getLogger(StreamsHealth.class);
    private static final Set<State> UNHEALTHY = Set.of(State.ERROR, State.PENDING_ERROR, State.NOT_RUNNING);

    private State state = State.CREATED;
    private boolean everRunning;

    @Override
    public synchronized void onChange(State newState, State oldState) {
        LOG.info("streams state={} previous={}", newState, oldState);
        state = newState;
        if (newState == State.RUNNING) {
            everRunning = true;
        }
        notifyAll();
    }

    public synchronized State state() {
        return state;
    }

    /** False once Streams has failed or stopped; a liveness probe should then restart the process. */
    public synchronized boolean healthy() {
        return !UNHEALTHY.contains(state);
    }

    /** True once Streams has reached RUNNING, for as long as it is healthy. */
    public synchronized boolean ready() {
        return everRunning && healthy();
    }

    /** Waits until Streams is RUNNING; false on timeout or when it failed first. */
    public synchronized boolean awaitRunning(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (state != State.RUNNING && healthy()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            wait(Math.max(1, left / 1_000_000));
        }
        return state == State.RUNNING;
    }
}
