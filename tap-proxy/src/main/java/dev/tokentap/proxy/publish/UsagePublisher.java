package dev.tokentap.proxy.publish;

import dev.tokentap.event.UsageEvent;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Where finished usage events go. Implementations never block the caller, which is a Jetty thread finishing a
 * proxied exchange: an event that cannot be taken is counted and dropped, never waited for. Kafka is one
 * implementation; a disk spool in front of it is the other.
 */
public interface UsagePublisher extends AutoCloseable {

    /** How long {@link #close()} waits for events still in flight. */
    Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(10);

    /** The stage of a publisher that keeps nothing on disk: there is nothing to wait for. */
    CompletionStage<Void> TAKEN = CompletableFuture.completedFuture(null);

    /**
     * Hands the event over and returns at once. The stage completes once the event is as safe as this publisher
     * makes it before Kafka has it: written to the spool's file, where a killed process does not lose it, or at
     * once for a publisher without one. It also completes, within a bounded time, when the event cannot be
     * written that soon (the spool failing or slow: it is written later) or was dropped. It never fails.
     */
    CompletionStage<Void> publish(UsageEvent event);

    /** Whether publishing works as it should; asked by {@code /readyz} and the degraded gauge. */
    default PublisherHealth health() {
        return PublisherHealth.HEALTHY;
    }

    /** Stops taking events and waits at most {@code timeout} for those already taken to be published. */
    void close(Duration timeout);

    @Override
    default void close() {
        close(DEFAULT_CLOSE_TIMEOUT);
    }
}
