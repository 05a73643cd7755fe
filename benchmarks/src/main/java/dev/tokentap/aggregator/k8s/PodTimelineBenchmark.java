package dev.tokentap.aggregator.k8s;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The aggregator's per-event identity lookup in a directory of 20,000 pods: a pod's IP as of an event's time, a
 * recently deleted pod's IP (its tombstone), and an address no pod held. Run with {@code -prof gc} to see the
 * bytes allocated per lookup ({@code gc.alloc.rate.norm}). It sits in the directory's package because the timeline
 * is internal to it.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class PodTimelineBenchmark {

    static final int PODS = 20_000;

    private PodTimeline timeline;
    private String[] ips;
    private String[] deletedIps;
    private String[] unknownIps;
    private long now;
    private int next;

    @Setup
    public void fillTheDirectory() {
        timeline = new PodTimeline(600_000);
        now = System.currentTimeMillis();
        ips = new String[PODS];
        for (int i = 0; i < PODS; i++) {
            // 50 namespaces, 2,000 Deployments of 10 replicas, two allowlisted labels
            String ns = "team-" + (i % 50);
            String deployment = "service-" + (i / 10);
            ips[i] = "10." + (i >> 16 & 255) + "." + (i >> 8 & 255) + "." + (i & 255);
            timeline.hold(ips[i], "uid-" + i, new PodIdentity(ns, deployment + "-7d9f8b6c5d-" + i, "Deployment",
                    deployment, deployment + "-sa", "node-" + (i % 500),
                    new TreeMap<>(Map.of("app", deployment, "team", ns))), now - 60_000);
        }
        // a tenth of the IPs were handed to a new pod 30 s ago: events from before that resolve to the old one
        deletedIps = new String[PODS / 10];
        for (int i = 0; i < deletedIps.length; i++) {
            deletedIps[i] = ips[i * 10];
            timeline.hold(deletedIps[i], "uid-new-" + i, new PodIdentity("team-0", "reused-" + i, "Deployment",
                    "reused", "reused-sa", "node-0", new TreeMap<>()), now - 30_000);
        }
        // measure what each benchmark claims to: a hit, the pod before the reuse, a miss
        if (timeline.lookup(ips[1], now) == null
                || !timeline.lookup(deletedIps[1], now - 45_000).pod().startsWith("service-")
                || !timeline.lookup(deletedIps[1], now).pod().startsWith("reused-")) {
            throw new IllegalStateException("the directory does not resolve as the benchmark assumes");
        }
        unknownIps = new String[1024];
        for (int i = 0; i < unknownIps.length; i++) {
            unknownIps[i] = "192.168." + (i >> 8) + "." + (i & 255);
        }
        if (timeline.lookup(unknownIps[0], now) != null) {
            throw new IllegalStateException("an unknown address resolved");
        }
    }

    @Benchmark
    public PodIdentity livePod() {
        return timeline.lookup(ips[next++ % PODS], now);
    }

    @Benchmark
    public PodIdentity reusedIpAsOfBeforeTheReuse() {
        return timeline.lookup(deletedIps[next++ % deletedIps.length], now - 45_000);
    }

    @Benchmark
    public PodIdentity unknownAddress() {
        return timeline.lookup(unknownIps[next++ & 1023], now);
    }
}
