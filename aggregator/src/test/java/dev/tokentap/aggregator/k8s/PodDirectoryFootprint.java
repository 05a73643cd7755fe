package dev.tokentap.aggregator.k8s;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Measures the pod directory for a fleet of 20,000 pods: the retained heap of the IP timeline with its identities,
 * the heap of what the informer's cache keeps of the same fleet's pods ({@link InformerPodDirectory#slim}), and the bytes a lookup allocates.
 * A measurement, not a test: run it by hand (see docs/benchmarks.md) and write the figures down.
 */
public final class PodDirectoryFootprint {

    static final int PODS = 20_000;

    private PodDirectoryFootprint() {
    }

    public static void main(String[] args) {
        int pods = args.length > 0 ? Integer.parseInt(args[0]) : PODS;
        long base = usedAfterGc();
        PodTimeline timeline = new PodTimeline(600_000);
        String[] ips = new String[pods];
        long now = System.currentTimeMillis();
        for (int i = 0; i < pods; i++) {
            // 50 namespaces, 2,000 deployments of 10 replicas, two allowlisted labels
            String ns = "team-" + (i % 50);
            String deployment = "service-" + (i / 10);
            String pod = deployment + "-7d9f8b6c5d-" + Integer.toString(100_000 + i, 36);
            ips[i] = "10." + (i >> 16 & 255) + "." + (i >> 8 & 255) + "." + (i & 255);
            PodIdentity identity = new PodIdentity(ns, pod, "Deployment", deployment, deployment + "-sa",
                    "node-" + (i % 500), new TreeMap<>(Map.of("app", deployment, "team", ns)));
            timeline.hold(ips[i], "uid-" + i, identity, now - 60_000);
        }
        long timelineBytes = usedAfterGc() - base;

        long beforePods = usedAfterGc();
        List<Pod> cache = new ArrayList<>(pods);
        for (int i = 0; i < pods; i++) {
            // what the informer's cache keeps of each pod
            cache.add(InformerPodDirectory.slim(typicalPod(i, ips[i])));
        }
        long podBytes = usedAfterGc() - beforePods;

        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long hits = 0;
        for (int round = 0; round < 20; round++) { // warm up: let the JIT compile the lookup
            hits += lookups(timeline, ips, now);
        }
        long allocatedBefore = threads.getCurrentThreadAllocatedBytes();
        int rounds = 50;
        for (int round = 0; round < rounds; round++) {
            hits += lookups(timeline, ips, now);
        }
        long allocated = threads.getCurrentThreadAllocatedBytes() - allocatedBefore;

        System.out.printf("pods=%d%n", pods);
        System.out.printf("timeline_and_identities_mib=%.1f (%d bytes/pod)%n", timelineBytes / 1048576.0,
                timelineBytes / pods);
        System.out.printf("informer_pod_cache_mib=%.1f (%d bytes/pod)%n", podBytes / 1048576.0, podBytes / pods);
        System.out.printf("directory_total_mib=%.1f%n", (timelineBytes + podBytes) / 1048576.0);
        System.out.printf("lookup_allocated_bytes_per_call=%.3f over %d lookups (hits=%d)%n",
                (double) allocated / ((long) rounds * pods), (long) rounds * pods, hits);
        if (cache.size() != pods || timeline.size() != pods) {
            throw new IllegalStateException("lost entries");
        }
    }

    private static long lookups(PodTimeline timeline, String[] ips, long now) {
        long hits = 0;
        for (String ip : ips) {
            if (timeline.lookup(ip, now) != null) {
                hits++;
            }
        }
        return hits;
    }

    /** A pod as an informer holds it: metadata, one container with a few env vars and ports, status. */
    static Pod typicalPod(int i, String ip) {
        String deployment = "service-" + (i / 10);
        return new PodBuilder()
                .withNewMetadata().withNamespace("team-" + (i % 50))
                .withName(deployment + "-7d9f8b6c5d-" + Integer.toString(100_000 + i, 36))
                .withUid(java.util.UUID.randomUUID().toString()).withResourceVersion(Integer.toString(1_000_000 + i))
                .withCreationTimestamp("2026-01-01T00:00:00Z")
                .withLabels(Map.of("app", deployment, "team", "team-" + (i % 50), "pod-template-hash", "7d9f8b6c5d"))
                .addNewOwnerReference().withApiVersion("apps/v1").withKind("ReplicaSet")
                .withName(deployment + "-7d9f8b6c5d").withUid(java.util.UUID.randomUUID().toString())
                .withController(true).endOwnerReference()
                .endMetadata()
                .withNewSpec().withServiceAccountName(deployment + "-sa").withNodeName("node-" + (i % 500))
                .addNewContainer().withName("app").withImage("registry.example/" + deployment + ":1.2.3")
                .addNewEnv().withName("LOG_LEVEL").withValue("info").endEnv()
                .addNewEnv().withName("OPENAI_BASE_URL").withValue("http://vllm-tap:3000/v1").endEnv()
                .addNewPort().withContainerPort(8080).withName("http").endPort()
                .withNewResources().addToRequests("cpu", new io.fabric8.kubernetes.api.model.Quantity("100m"))
                .addToRequests("memory", new io.fabric8.kubernetes.api.model.Quantity("256Mi")).endResources()
                .endContainer()
                .endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip).addNewPodIP(ip).withHostIP("192.168.0." + (i % 250))
                .withStartTime("2026-01-01T00:00:01Z")
                .addNewCondition().withType("Ready").withStatus("True").endCondition()
                .addNewContainerStatus().withName("app").withReady(true).withRestartCount(0)
                .withImage("registry.example/" + deployment + ":1.2.3").endContainerStatus()
                .endStatus()
                .build();
    }

    private static long usedAfterGc() {
        Runtime rt = Runtime.getRuntime();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            System.gc();
            used = Math.min(used, rt.totalMemory() - rt.freeMemory());
        }
        return used;
    }
}
