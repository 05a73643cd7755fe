package dev.tokentap.proxy.publish;

import dev.tokentap.event.UsageEvent;
import java.time.Duration;

/**
 * Where finished usage events go. Implementations never block the caller, which is a Jetty thread finishing a
 * proxied exchange: an event that cannot be taken is counted and dropped, never waited for. Kafka is one
 * implementation; a disk spool in front of it is the other.
 */
public interface UsagePublisher extends AutoCloseable {

    /** How long {@link #close()} waits for events still in flight. */
    Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(10);

    /** Hands the event over for publishing; returns at once. */
    void publish(UsageEvent event);

    /** Stops taking events and waits at most {@code timeout} for those already taken to be published. */
    void close(Duration timeout);

    @Override
    default void close() {
        close(DEFAULT_CLOSE_TIMEOUT);
    }
}
