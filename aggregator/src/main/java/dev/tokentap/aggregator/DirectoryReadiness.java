package dev.tokentap.aggregator;

import dev.tokentap.aggregator.k8s.PodDirectory;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Readiness as far as the pod directory is concerned: ready once it has synced, or once the sync timeout has
 * passed without it (from then on unresolved callers are known by address, rather than the aggregator waiting).
 */
final class DirectoryReadiness implements BooleanSupplier {

    private static final Logger LOG = LoggerFactory.getLogger(DirectoryReadiness.class);

    private final PodDirectory pods;
    private final Clock clock;
    private final long deadline;
    private final AtomicBoolean decided = new AtomicBoolean();

    DirectoryReadiness(PodDirectory pods, Duration syncTimeout, Clock clock) {
        this.pods = pods;
        this.clock = clock;
        this.deadline = clock.millis() + syncTimeout.toMillis();
    }

    @Override
    public boolean getAsBoolean() {
        if (decided.get() || !pods.watchesKubernetes()) {
            return true;
        }
        if (pods.synced()) {
            decided.set(true);
            return true;
        }
        if (clock.millis() >= deadline) {
            if (decided.compareAndSet(false, true)) {
                LOG.warn("pod directory not synced within the sync timeout; ready with address-only identity for "
                        + "callers it does not know yet");
            }
            return true;
        }
        return false;
    }
}
