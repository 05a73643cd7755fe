package dev.tokentap.aggregator.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WorkloadsTest {

    private final Workloads withoutOwners = new Workloads(null, null);

    @Test
    void shouldStripThePodTemplateHashToNameTheDeployment() {
        Pod pod = owned("ReplicaSet", "ranker-5d8f7b9c6d", Map.of("pod-template-hash", "5d8f7b9c6d"));

        assertThat(withoutOwners.of(pod)).isEqualTo(new Workloads.Workload("Deployment", "ranker"));
    }

    @Test
    void shouldKeepTheReplicaSetWhenItsNameDoesNotEndInTheHash() {
        Pod pod = owned("ReplicaSet", "hand-made", Map.of("pod-template-hash", "5d8f7b9c6d"));

        assertThat(withoutOwners.of(pod)).isEqualTo(new Workloads.Workload("ReplicaSet", "hand-made"));
    }

    @Test
    void shouldNameACronJobFromItsJobsScheduledMinuteSuffix() {
        Pod pod = owned("Job", "nightly-29412345", Map.of("job-name", "nightly-29412345"));

        assertThat(withoutOwners.of(pod)).isEqualTo(new Workloads.Workload("CronJob", "nightly"));
    }

    @Test
    void shouldKeepAPlainJob() {
        assertThat(withoutOwners.of(owned("Job", "migrate-2", Map.of("job-name", "migrate-2"))))
                .isEqualTo(new Workloads.Workload("Job", "migrate-2"));
    }

    @Test
    void shouldNameStatefulSetsDaemonSetsAndBarePods() {
        assertThat(withoutOwners.of(owned("StatefulSet", "db", Map.of())))
                .isEqualTo(new Workloads.Workload("StatefulSet", "db"));
        assertThat(withoutOwners.of(owned("DaemonSet", "agent", Map.of())))
                .isEqualTo(new Workloads.Workload("DaemonSet", "agent"));
        assertThat(withoutOwners.of(new PodBuilder().withNewMetadata().withNamespace("ns").withName("debug")
                .endMetadata().build())).isEqualTo(new Workloads.Workload("Pod", "debug"));
    }

    private static Pod owned(String kind, String name, Map<String, String> labels) {
        return new PodBuilder().withNewMetadata().withNamespace("ns").withName(name + "-abcde").withLabels(labels)
                .addNewOwnerReference().withKind(kind).withName(name).withController(true).endOwnerReference()
                .endMetadata().build();
    }
}
