package dev.tokentap.aggregator.k8s;

/**
 * Answers "which pod held this IP at that time", from a cache that is kept current in the background, never by an
 * API call per lookup. Two implementations: {@link InformerPodDirectory} (watches the Kubernetes API) and
 * {@link StaticPodDirectory} (a fixed map, for off-cluster runs and tests).
 */
public interface PodDirectory extends AutoCloseable {

    /** The directory of a process that does not look at Kubernetes: knows no pod, and is always in sync. */
    PodDirectory NONE = new StaticPodDirectory(java.util.Map.of());

    /**
     * The pod that had {@code ip} at {@code epochMillis}, or null when none is known. Must be cheap and must not
     * allocate: it runs once per usage event on a stream thread.
     */
    PodIdentity lookup(String ip, long epochMillis);

    /** True when the directory has listed everything once and its watches are open. */
    boolean synced();

    /** Since when (epoch ms) the directory is known to be current: now while {@link #synced()}, -1 before ever. */
    long currentAsOf();

    /** False when there is nothing to wait for (no Kubernetes): readiness need not wait for {@link #synced()}. */
    default boolean watchesKubernetes() {
        return false;
    }

    @Override
    default void close() {
    }
}
