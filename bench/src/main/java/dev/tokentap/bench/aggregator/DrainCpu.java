package dev.tokentap.bench.aggregator;

import dev.tokentap.bench.ProcStat;
import dev.tokentap.bench.ThreadCpu;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The CPU the bench's JVM spent over the drain window, by group of threads, per event drained: how much of it the
 * stream threads took, how much the broker that runs beside them, the JIT and the collector. Read from
 * {@code /proc/self/task} at both edges of the window (cheap, so the window is not disturbed) and named with
 * {@code jcmd Thread.print} after it; a thread that ended within the window is named by its kernel name.
 *
 * @param seconds        the window's length
 * @param events         events counted in it
 * @param cpuSeconds     CPU seconds of each group, largest first
 * @param others         names of the threads in no group that used CPU in the window, busiest first
 */
public record DrainCpu(double seconds, long events, Map<String, Double> cpuSeconds, List<String> others) {

    /** Every group, in the order they are matched; the first that matches a thread's name takes it. */
    static final List<String> GROUPS = List.of("stream threads", "Streams' producers (I/O)",
            "Streams' consumers and admin", "broker: network", "broker: request handlers",
            "broker: transactions, groups", "broker: log, controller, other", "RocksDB (native)",
            "JIT compilers", "GC and VM", "flight recorder (when on)", "aggregator HTTP (/metrics)",
            "bench: generator, scrapes", "other");

    private static final java.util.Set<String> VM_THREADS = java.util.Set.of("Notification Thread",
            "Signal Dispatcher", "Common-Cleaner", "Reference Handler", "Finalizer", "Attach Listener",
            "Service Thread", "Monitor Deflation Thread", "Sweeper thread");

    /** The group a thread belongs to, by its JVM name (or its kernel name for a thread the JVM does not know). */
    static String group(String name) {
        if (name.matches(".*-StreamThread-\\d+")) {
            return "stream threads";
        }
        if (name.startsWith("kafka-producer-network-thread") && name.contains("StreamThread")) {
            return "Streams' producers (I/O)";
        }
        if (name.contains("tokentap-aggregator") || name.contains("StreamThread")
                || name.startsWith("kafka-admin-client-thread") || name.startsWith("kafka-coordinator-heartbeat")
                || name.startsWith("consumer_background") || name.equals("StateDirCleaner")) {
            return "Streams' consumers and admin";
        }
        if (name.startsWith("kafka-producer-network-thread | tokentap-bench") || name.equals("main")
                || name.startsWith("bench-") || name.startsWith("HttpClient-")) {
            return "bench: generator, scrapes";
        }
        if (name.contains("network-thread") || name.contains("socket-acceptor") || name.startsWith("data-plane-kafka-n")) {
            return "broker: network";
        }
        if (name.contains("request-handler")) {
            return "broker: request handlers";
        }
        if (name.contains("Txn") || name.toLowerCase(Locale.ROOT).contains("transaction")
                || name.contains("coordinator") || name.contains("ExpirationReaper")) {
            return "broker: transactions, groups";
        }
        if (name.startsWith("rocksdb:")) {
            return "RocksDB (native)";
        }
        if (name.contains("CompilerThread") || name.startsWith("C1 Comp") || name.startsWith("C2 Comp")) {
            return "JIT compilers";
        }
        if (name.startsWith("GC Thr") || name.startsWith("G1 ") || name.startsWith("VM ")
                || VM_THREADS.contains(name)) {
            return "GC and VM";
        }
        if (name.startsWith("JFR")) {
            return "flight recorder (when on)";
        }
        if (name.startsWith("qtp") || name.startsWith("Jetty") || name.startsWith("Javalin")
                || name.startsWith("aggregator-http")) {
            return "aggregator HTTP (/metrics)";
        }
        if (name.startsWith("kafka-") || name.startsWith("broker-") || name.startsWith("controller-")
                || name.startsWith("raft") || name.startsWith("quorum") || name.contains("kafka")
                || name.startsWith("LogDirFailureHandler") || name.startsWith("ReplicaFetcher")
                || name.startsWith("metrics-") || name.startsWith("ExpirationReaper")) {
            return "broker: log, controller, other";
        }
        return "other";
    }

    /** The threads of this JVM now; cheap. */
    static Map<Long, ThreadCpu.Task> snapshot() {
        return ThreadCpu.tasks(ProcessHandle.current().pid());
    }

    /** The CPU between two snapshots, by group; names the threads with one {@code jcmd}, so call it after. */
    static DrainCpu between(Map<Long, ThreadCpu.Task> before, Map<Long, ThreadCpu.Task> after, double seconds,
                            long events) {
        Map<Long, String> names = ThreadCpu.javaThreadNames(ProcessHandle.current().pid());
        Map<String, Long> ticks = new TreeMap<>();
        Map<String, Long> others = new TreeMap<>();
        for (Map.Entry<Long, ThreadCpu.Task> thread : after.entrySet()) {
            ThreadCpu.Task start = before.get(thread.getKey());
            long used = thread.getValue().ticks() - (start == null ? 0 : start.ticks());
            String name = names.getOrDefault(thread.getKey(), thread.getValue().comm());
            String group = group(name);
            ticks.merge(group, used, Long::sum);
            if (group.equals("other") && used > 0) {
                others.merge(name, used, Long::sum);
            }
        }
        double perSecond = ProcStat.clockTicksPerSecond();
        Map<String, Double> cpu = new LinkedHashMap<>();
        ticks.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .forEach(e -> cpu.put(e.getKey(), e.getValue() / perSecond));
        List<String> otherNames = others.entrySet().stream()
                .sorted(Map.Entry.<String, Long>comparingByValue().reversed()).map(Map.Entry::getKey).toList();
        return new DrainCpu(seconds, events, cpu, otherNames);
    }

    /** All groups' CPU seconds. */
    public double totalCpuSeconds() {
        return cpuSeconds.values().stream().mapToDouble(Double::doubleValue).sum();
    }

    /** Microseconds of CPU per event drained, by group. */
    public Map<String, Double> microsPerEvent() {
        Map<String, Double> micros = new LinkedHashMap<>();
        cpuSeconds.forEach((group, s) -> micros.put(group, events > 0 ? s * 1e6 / events : 0));
        return micros;
    }

    void print(PrintStream out) {
        out.printf(Locale.ROOT, "  drain CPU   by thread group over the %.1f s window (%,d events; %.2f cores busy "
                + "in this JVM):%n", seconds, events, totalCpuSeconds() / seconds);
        out.printf(Locale.ROOT, "    %-32s %8s %10s %8s %16s%n", "group", "CPU s", "µs/event", "cores",
                "cores at 50k/s");
        Map<String, Double> microsPerEvent = microsPerEvent();
        for (Map.Entry<String, Double> group : cpuSeconds.entrySet()) {
            double micros = microsPerEvent.get(group.getKey());
            out.printf(Locale.ROOT, "    %-32s %8.2f %10.1f %8.2f %16.2f%n", group.getKey(), group.getValue(),
                    micros, group.getValue() / seconds, micros * AggregatorBench.TARGET_EVENTS_PER_SECOND / 1e6);
        }
        if (!others.isEmpty()) {
            out.printf(Locale.ROOT, "    (other: %s)%n", String.join(", ", others.subList(0, Math.min(8,
                    others.size()))));
        }
        double total = events > 0 ? totalCpuSeconds() * 1e6 / events : 0;
        out.printf(Locale.ROOT, "    %-32s %8.2f %10.1f %8.2f %16.2f%n", "all", totalCpuSeconds(), total,
                totalCpuSeconds() / seconds, total * AggregatorBench.TARGET_EVENTS_PER_SECOND / 1e6);
    }
}
