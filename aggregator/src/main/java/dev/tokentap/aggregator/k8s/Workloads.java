package dev.tokentap.aggregator.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.regex.Pattern;

/**
 * Names the workload a pod belongs to from owner references: Pod → ReplicaSet → Deployment, Job → CronJob,
 * StatefulSet, DaemonSet, or a bare pod. Where the owning ReplicaSet or Job can't be read (no permission, or not
 * seen yet), falls back to the naming rules their controllers follow. Pure: owners are looked up through the
 * functions it is given.
 */
final class Workloads {

    static final String POD_TEMPLATE_HASH = "pod-template-hash";
    static final String JOB_NAME = "job-name";
    // the CronJob controller names its Jobs <cronjob>-<scheduled time in minutes since the epoch>
    private static final Pattern CRONJOB_JOB = Pattern.compile("(.+)-\\d{8,}");

    /** A workload's kind and name. */
    record Workload(String kind, String name) {
    }

    private final BiFunction<String, String, HasMetadata> replicaSets;
    private final BiFunction<String, String, HasMetadata> jobs;

    /**
     * @param replicaSets (namespace, name) → the ReplicaSet, null when unknown; null when ReplicaSets can't be read
     * @param jobs        (namespace, name) → the Job, null when unknown; null when Jobs can't be read
     */
    Workloads(BiFunction<String, String, HasMetadata> replicaSets, BiFunction<String, String, HasMetadata> jobs) {
        this.replicaSets = replicaSets;
        this.jobs = jobs;
    }

    Workload of(Pod pod) {
        String namespace = pod.getMetadata().getNamespace();
        OwnerReference owner = controller(pod);
        if (owner == null) {
            return new Workload(PodIdentity.BARE_POD, pod.getMetadata().getName());
        }
        Map<String, String> labels = pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels();
        switch (owner.getKind()) {
            case "ReplicaSet": {
                HasMetadata rs = replicaSets == null ? null : replicaSets.apply(namespace, owner.getName());
                if (rs != null) {
                    OwnerReference rsOwner = controller(rs);
                    return rsOwner == null ? new Workload("ReplicaSet", owner.getName())
                            : new Workload(rsOwner.getKind(), rsOwner.getName());
                }
                return byTemplateHash(owner.getName(), labels.get(POD_TEMPLATE_HASH));
            }
            case "Job": {
                HasMetadata job = jobs == null ? null : jobs.apply(namespace, owner.getName());
                if (job != null) {
                    OwnerReference jobOwner = controller(job);
                    return jobOwner == null ? new Workload("Job", owner.getName())
                            : new Workload(jobOwner.getKind(), jobOwner.getName());
                }
                return byJobName(labels.getOrDefault(JOB_NAME, owner.getName()));
            }
            default:
                return new Workload(owner.getKind(), owner.getName());
        }
    }

    /** A Deployment's ReplicaSets are named {@code <deployment>-<pod-template-hash>}. */
    static Workload byTemplateHash(String replicaSet, String hash) {
        if (hash != null && !hash.isEmpty() && replicaSet.endsWith("-" + hash)
                && replicaSet.length() > hash.length() + 1) {
            return new Workload("Deployment", replicaSet.substring(0, replicaSet.length() - hash.length() - 1));
        }
        return new Workload("ReplicaSet", replicaSet);
    }

    /** A CronJob's Jobs are named {@code <cronjob>-<scheduled minute>}. */
    static Workload byJobName(String job) {
        var m = CRONJOB_JOB.matcher(job);
        return m.matches() ? new Workload("CronJob", m.group(1)) : new Workload("Job", job);
    }

    private static OwnerReference controller(HasMetadata object) {
        List<OwnerReference> owners = object.getMetadata().getOwnerReferences();
        if (owners == null || owners.isEmpty()) {
            return null;
        }
        for (OwnerReference owner : owners) {
            if (Boolean.TRUE.equals(owner.getController())) {
                return owner;
            }
        }
        return owners.get(0);
    }
}
