package dev.tokentap.aggregator.k8s;

import dev.tokentap.config.Durations;
import dev.tokentap.config.Problems;
import java.time.Duration;
import java.util.List;

/**
 * Whether and how callers are resolved to Kubernetes pods.
 *
 * @param mode               {@code auto} (in-cluster config or a kubeconfig if present) or {@code off}
 * @param watchNamespaces    namespaces whose pods are watched; empty for all
 * @param podLabels          pod labels carried into the identity (the enriched record's {@code client.labels})
 * @param syncTimeout        how long {@code /readyz} waits for the pod directory's first sync
 * @param tombstoneRetention how long a deleted pod still resolves events from before its deletion
 */
public record Kubernetes(Mode mode, List<String> watchNamespaces, List<String> podLabels, Duration syncTimeout,
                         Duration tombstoneRetention) {

    /** Whether callers are resolved to pods. */
    public enum Mode {
        /** In-cluster config or a kubeconfig if present, else off. */
        AUTO,
        /** Callers are known by address only. */
        OFF
    }

    public static final String DEFAULT_SYNC_TIMEOUT = "30s";
    public static final String DEFAULT_TOMBSTONE_RETENTION = "10m";

    /** Callers known by address only, as {@code tokentap run} names them. */
    public static final Kubernetes OFF = new Kubernetes(Mode.OFF, List.of(), List.of(),
            Durations.parse(DEFAULT_SYNC_TIMEOUT), Durations.parse(DEFAULT_TOMBSTONE_RETENTION));

    public Kubernetes {
        watchNamespaces = watchNamespaces == null ? List.of() : List.copyOf(watchNamespaces);
        podLabels = podLabels == null ? List.of() : List.copyOf(podLabels);
        new Problems()
                .required("--kubernetes", mode)
                .notNegative("--kubernetes-sync-timeout", syncTimeout)
                .notNegative("--pod-tombstone-retention", tombstoneRetention)
                .throwIfAny();
    }

    /** What the informers are told. */
    public InformerPodDirectory.Settings directory() {
        return new InformerPodDirectory.Settings(watchNamespaces, podLabels, tombstoneRetention);
    }
}
