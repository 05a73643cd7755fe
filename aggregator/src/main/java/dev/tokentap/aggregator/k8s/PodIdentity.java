package dev.tokentap.aggregator.k8s;

import java.util.Collections;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * What the aggregator knows about one caller pod. Built once per pod change and shared by every lookup, so a
 * lookup allocates nothing.
 *
 * @param workloadKind {@code Deployment}, {@code StatefulSet}, {@code DaemonSet}, {@code Job}, {@code CronJob},
 *                     {@code ReplicaSet}, another controller's kind, or {@code Pod} for a bare pod
 * @param labels       the pod's labels on the configured allowlist
 */
public record PodIdentity(
        String namespace,
        String pod,
        String workloadKind,
        String workload,
        String serviceAccount,
        String node,
        SortedMap<String, String> labels) {

    public static final String BARE_POD = "Pod";

    public PodIdentity {
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(pod, "pod");
        Objects.requireNonNull(workloadKind, "workloadKind");
        Objects.requireNonNull(workload, "workload");
        labels = labels == null || labels.isEmpty() ? Collections.emptySortedMap()
                : Collections.unmodifiableSortedMap(new TreeMap<>(labels));
    }
}
