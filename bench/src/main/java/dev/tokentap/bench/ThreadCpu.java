package dev.tokentap.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * CPU of some of a JVM's threads, picked by name: what the proxy costs inside {@code tokentap run}, whose process
 * also runs a broker and the aggregator. The CPU is each thread's utime + stime from
 * {@code /proc/PID/task/TID/stat}; the names come from {@code jcmd PID Thread.print} (the kernel keeps only 15
 * characters of a name, which cannot tell the proxy's Kafka producer from Kafka Streams'), asked once for each
 * thread not seen before. A thread that ends between two readings takes its CPU with it, so a figure can only be
 * too low; the proxy's threads live as long as it serves.
 */
public final class ThreadCpu {

    /**
     * The proxy's threads: Jetty's pool of the proxy port (its selectors, acceptors and the upstream client run in
     * it), the spool's writer, syncer, watchdog and sender, the publisher, the Kafka delivery watch, and the proxy's
     * own Kafka producer (client id {@code tokentap-proxy-…}). Not the JVM's own threads (compilers, collector),
     * which the process's figure counts.
     */
    static final Predicate<String> PROXY = name -> name.startsWith("tap-proxy")
            || name.startsWith("tokentap-spool-") || name.equals("tokentap-publisher")
            || name.equals("tokentap-kafka-watch")
            || name.startsWith("kafka-producer-network-thread | tokentap-proxy-");

    private static final Pattern THREAD = Pattern.compile("^\"(.*)\" .*\\bnid=(0x[0-9a-fA-F]+|[0-9]+)");

    private final Map<Long, String> names = new HashMap<>();
    private final Set<Long> notJava = new HashSet<>();

    /** CPU seconds so far of the threads of {@code pids} whose names {@code picked} accepts; 0 without /proc. */
    synchronized double seconds(List<Long> pids, Predicate<String> picked) {
        long ticks = 0;
        for (long pid : pids) {
            if (notJava.contains(pid)) {
                continue;
            }
            Map<Long, Task> byThread = tasks(pid);
            if (!names.keySet().containsAll(byThread.keySet())) {
                Map<Long, String> dumped = javaThreadNames(pid);
                if (dumped.isEmpty()) {
                    notJava.add(pid);
                    continue;
                }
                names.putAll(dumped);
            }
            for (Map.Entry<Long, Task> thread : byThread.entrySet()) {
                String name = names.get(thread.getKey());
                if (name != null && picked.test(name)) {
                    ticks += thread.getValue().ticks();
                }
            }
        }
        return ticks / (double) ProcStat.clockTicksPerSecond();
    }

    /**
     * Every live thread of {@code pid}: its native id, kernel name ({@code comm}, 15 characters) and CPU ticks so
     * far. Cheap (a read of /proc per thread), so it can be taken at the edges of a measured window without
     * disturbing it; {@link #javaThreadNames} names the threads afterwards.
     */
    public static Map<Long, Task> tasks(long pid) {
        Map<Long, Task> tasks = new HashMap<>();
        Path dir = Path.of("/proc", Long.toString(pid), "task");
        try (Stream<Path> list = Files.list(dir)) {
            for (Path task : list.toList()) {
                try {
                    tasks.put(Long.parseLong(task.getFileName().toString()),
                            new Task(Files.readString(task.resolve("comm")).strip(),
                                    ProcStat.cpuTicks(Files.readString(task.resolve("stat")))));
                } catch (IOException | NumberFormatException e) {
                    // the thread ended while being read
                }
            }
        } catch (IOException e) {
            // the process is gone, or there is no /proc
        }
        return tasks;
    }

    /** One thread as {@link #tasks} read it. */
    public record Task(String comm, long ticks) {
    }

    /**
     * Native thread id to the JVM's name of each thread it knows (its own threads too: compilers, collectors), from
     * {@code jcmd PID Thread.print}; empty when jcmd cannot be run. Threads the JVM did not start (RocksDB's) are
     * not in it.
     */
    public static Map<Long, String> javaThreadNames(long pid) {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        if (!Files.isExecutable(jcmd)) {
            return Map.of();
        }
        try {
            Process process = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "Thread.print")
                    .redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes());
            if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0) {
                return Map.of();
            }
            return parseThreadPrint(out);
        } catch (IOException e) {
            return Map.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Map.of();
        }
    }

    /** Native thread id to thread name, from the text of {@code jcmd PID Thread.print}. */
    static Map<Long, String> parseThreadPrint(String text) {
        Map<Long, String> threads = new HashMap<>();
        for (String line : text.split("\n")) {
            Matcher m = THREAD.matcher(line);
            if (m.find()) {
                String nid = m.group(2);
                long id = nid.startsWith("0x") ? Long.parseLong(nid.substring(2), 16) : Long.parseLong(nid);
                threads.put(id, m.group(1));
            }
        }
        return threads;
    }
}
