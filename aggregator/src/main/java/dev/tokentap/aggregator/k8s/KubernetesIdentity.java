package dev.tokentap.aggregator.k8s;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Opens the pod directory the configuration asks for, or says once why callers are known by address only. */
public final class KubernetesIdentity {

    private static final Logger LOG = LoggerFactory.getLogger(KubernetesIdentity.class);
    static final String SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    private KubernetesIdentity() {
    }

    /**
     * The pod directory for {@code auto} or {@code off}: informers when a cluster is configured (in-cluster, or a
     * kubeconfig), else {@link PodDirectory#NONE}.
     */
    public static PodDirectory open(boolean auto, InformerPodDirectory.Settings settings, Map<String, String> env,
                                    Clock clock) {
        if (!auto) {
            LOG.info("kubernetes mode=off identity=address-only");
            return PodDirectory.NONE;
        }
        String found = clusterConfig(env);
        if (found == null) {
            LOG.info("kubernetes mode=auto identity=address-only reason=\"no in-cluster config or kubeconfig found\"");
            return PodDirectory.NONE;
        }
        KubernetesClient client;
        try {
            client = new KubernetesClientBuilder().withConfig(Config.autoConfigure(null)).build();
        } catch (RuntimeException e) {
            LOG.warn("kubernetes mode=auto identity=address-only reason=\"cannot configure a client from {}\" "
                    + "error={}", found, e.toString());
            return PodDirectory.NONE;
        }
        LOG.info("kubernetes mode=auto config={} master={} identity=pods", found,
                client.getConfiguration().getMasterUrl());
        return InformerPodDirectory.start(client, settings, clock);
    }

    /** Where a cluster's config would come from, or null when there is none. */
    static String clusterConfig(Map<String, String> env) {
        if (env.get("KUBERNETES_SERVICE_HOST") != null && Files.isReadable(Path.of(SERVICE_ACCOUNT_TOKEN))) {
            return "in-cluster";
        }
        String kubeconfig = env.get("KUBECONFIG");
        if (kubeconfig != null && !kubeconfig.isBlank()) {
            for (String file : kubeconfig.split(java.io.File.pathSeparator)) {
                if (!file.isBlank() && Files.isReadable(Path.of(file))) {
                    return "kubeconfig " + file;
                }
            }
        }
        Path home = Path.of(System.getProperty("user.home"), ".kube", "config");
        return Files.isReadable(home) ? "kubeconfig " + home : null;
    }
}
