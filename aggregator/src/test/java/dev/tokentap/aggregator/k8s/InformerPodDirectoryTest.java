package dev.tokentap.aggregator.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import org.junit.jupiter.api.Test;

class InformerPodDirectoryTest {

    @Test
    void shouldKeepInTheCacheEverythingTheIdentityIsMadeOf() {
        Pod full = PodDirectoryFootprint.typicalPod(7, "10.0.0.7");

        Pod slim = InformerPodDirectory.slim(full);

        assertThat(slim.getMetadata().getLabels()).isEqualTo(full.getMetadata().getLabels());
        assertThat(slim.getMetadata().getOwnerReferences()).isEqualTo(full.getMetadata().getOwnerReferences());
        assertThat(slim.getMetadata().getResourceVersion()).isEqualTo(full.getMetadata().getResourceVersion());
        assertThat(slim.getSpec().getServiceAccountName()).isEqualTo(full.getSpec().getServiceAccountName());
        assertThat(slim.getSpec().getNodeName()).isEqualTo(full.getSpec().getNodeName());
        assertThat(slim.getSpec().getContainers()).isEmpty();
        assertThat(InformerPodDirectory.ipsOf(slim)).containsExactly("10.0.0.7");
        assertThat(InformerPodDirectory.since(slim)).isEqualTo(InformerPodDirectory.since(full));
    }

    @Test
    void shouldIgnoreHostNetworkPodsWhoseIpIsTheNodes() {
        Pod hostNetwork = new PodBuilder(PodDirectoryFootprint.typicalPod(1, "192.168.0.1"))
                .editSpec().withHostNetwork(true).endSpec().build();

        assertThat(InformerPodDirectory.ipsOf(hostNetwork)).isEmpty();
    }

    @Test
    void shouldTreatAFinishedPodAsHavingLetGoOfItsIp() {
        Pod pod = PodDirectoryFootprint.typicalPod(1, "10.0.0.1");

        assertThat(InformerPodDirectory.finished(pod)).isFalse();
        assertThat(InformerPodDirectory.finished(new PodBuilder(pod).editStatus().withPhase("Succeeded").endStatus()
                .build())).isTrue();
        assertThat(InformerPodDirectory.finished(new PodBuilder(pod).editStatus().withPhase("Failed").endStatus()
                .build())).isTrue();
    }
}
