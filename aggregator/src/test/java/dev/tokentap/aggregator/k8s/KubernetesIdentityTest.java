package dev.tokentap.aggregator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KubernetesIdentityTest {

    @Test
    void shouldFindAKubeconfigNamedByTheEnvironment(@TempDir Path dir) throws Exception {
        Path kubeconfig = Files.writeString(dir.resolve("config"), "apiVersion: v1\nkind: Config\n");

        assertThat(KubernetesIdentity.clusterConfig(Map.of("KUBECONFIG", dir.resolve("missing") + ":" + kubeconfig)))
                .isEqualTo("kubeconfig " + kubeconfig);
    }

    @Test
    void shouldNotTakeTheServiceHostAloneForAnInClusterConfig() {
        assumeFalse(Files.isReadable(Path.of(KubernetesIdentity.SERVICE_ACCOUNT_TOKEN)), "runs inside a pod");

        assertThat(KubernetesIdentity.clusterConfig(Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1")))
                .isNotEqualTo("in-cluster");
    }

    @Test
    void shouldKnowNoPodWhenOff() {
        PodDirectory off = KubernetesIdentity.open(false, new InformerPodDirectory.Settings(List.of(), List.of(),
                Duration.ofMinutes(10)), Map.of(), Clock.systemUTC());

        assertThat(off).isSameAs(PodDirectory.NONE);
        assertThat(off.synced()).isTrue();
        assertThat(off.watchesKubernetes()).isFalse();
    }
}
