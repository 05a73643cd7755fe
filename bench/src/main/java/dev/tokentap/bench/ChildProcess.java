package dev.tokentap.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A process the bench starts and stops: a JVM (tap-proxy, the simulator) or nginx. Its output goes to a log file
 * in the work directory. CPU and resident set are read from /proc for the process and all its descendants, so
 * nginx's master and workers count together.
 */
public final class ChildProcess implements AutoCloseable {

    private final String name;
    private final Process process;
    private final Path log;
    private final ThreadCpu threads = new ThreadCpu();
    private final long startedNanos;

    private ChildProcess(String name, Process process, Path log, long startedNanos) {
        this.name = name;
        this.process = process;
        this.log = log;
        this.startedNanos = startedNanos;
    }

    /** Starts {@code mainClass} in a new JVM from this JVM's java and class path. */
    public static ChildProcess java(String name, List<String> jvmOptions, String mainClass, List<String> args,
                                    Path workDir) throws IOException {
        return java(name, jvmOptions, java.util.Map.of(), mainClass, args, workDir);
    }

    /** Starts {@code mainClass} in a new JVM, with {@code environment} added to this process's. */
    public static ChildProcess java(String name, List<String> jvmOptions, java.util.Map<String, String> environment,
                                    String mainClass, List<String> args, Path workDir) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(absoluteClassPath(System.getProperty("java.class.path")));
        command.add(mainClass);
        command.addAll(args);
        return start(name, command, environment, workDir);
    }

    /** The class path with every entry made absolute, since children run in a directory of their own. */
    static String absoluteClassPath(String classPath) {
        List<String> entries = new ArrayList<>();
        for (String entry : classPath.split(java.io.File.pathSeparator)) {
            if (!entry.isEmpty()) {
                entries.add(Path.of(entry).toAbsolutePath().toString());
            }
        }
        return String.join(java.io.File.pathSeparator, entries);
    }

    public static ChildProcess start(String name, List<String> command, Path workDir) throws IOException {
        return start(name, command, java.util.Map.of(), workDir);
    }

    private static ChildProcess start(String name, List<String> command, java.util.Map<String, String> environment,
                                      Path workDir) throws IOException {
        Files.createDirectories(workDir);
        Path log = workDir.resolve(name + ".log");
        ProcessBuilder builder = new ProcessBuilder(command).directory(workDir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        builder.environment().putAll(environment);
        long startedNanos = System.nanoTime();
        Process process = builder.start();
        return new ChildProcess(name, process, log, startedNanos);
    }

    /** A free loopback port, for a child that must be told its port up front. */
    public static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        }
    }

    /** Waits until {@code url} answers 200, failing early if the process exits. */
    public void awaitHttpOk(URI url, Duration timeout) throws IOException, InterruptedException {
        awaitHttpOk(url, timeout, Duration.ofMillis(100));
    }

    /** As {@link #awaitHttpOk(URI, Duration)}, asking every {@code poll}. */
    public void awaitHttpOk(URI url, Duration timeout, Duration poll) throws IOException, InterruptedException {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            checkAlive();
            try {
                HttpResponse<Void> response = client.send(HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(2))
                        .build(), HttpResponse.BodyHandlers.discarding());
                if (response.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(poll.toMillis());
        }
        throw new IOException(name + " did not answer " + url + " within " + timeout + "; see " + log);
    }

    /** Waits until something accepts connections on the loopback port. */
    public void awaitPort(int port, Duration timeout) throws IOException, InterruptedException {
        awaitPort(port, timeout, Duration.ofMillis(100));
    }

    /** As {@link #awaitPort(int, Duration)}, trying every {@code poll}. */
    public void awaitPort(int port, Duration timeout, Duration poll) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            checkAlive();
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return;
            } catch (IOException e) {
                Thread.sleep(poll.toMillis());
            }
        }
        throw new IOException(name + " did not listen on port " + port + " within " + timeout + "; see " + log);
    }

    private void checkAlive() throws IOException {
        if (!process.isAlive()) {
            throw new IOException(name + " exited with status " + process.exitValue() + "; see " + log);
        }
    }

    public String name() {
        return name;
    }

    /** {@link System#nanoTime()} just before the process was started. */
    public long startedNanos() {
        return startedNanos;
    }

    /** Waits for the process to exit by itself; its exit status, or -1 if it was still running at the timeout. */
    public int awaitExit(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
    }

    public long pid() {
        return process.pid();
    }

    public Path log() {
        return log;
    }

    private List<Long> pids() {
        List<Long> pids = new ArrayList<>();
        pids.add(process.pid());
        try (Stream<ProcessHandle> descendants = process.descendants()) {
            descendants.forEach(handle -> pids.add(handle.pid()));
        }
        return pids;
    }

    /** CPU seconds used so far by the process and its descendants. */
    public double cpuSeconds() {
        return pids().stream().mapToDouble(ProcStat::cpuSeconds).sum();
    }

    /**
     * CPU seconds used so far by the proxy's threads alone ({@link ThreadCpu#PROXY}) in the process and its
     * descendants: the proxy's share of a process that also runs other things ({@code tokentap run}).
     */
    public double proxyThreadsCpuSeconds() {
        return threads.seconds(pids(), ThreadCpu.PROXY);
    }

    /** {@link ProcStat#threadRunNanosAndSleeps} over the process and its descendants. */
    public long[] threadRunNanosAndSleeps() {
        long[] sums = new long[2];
        for (long pid : pids()) {
            long[] one = ProcStat.threadRunNanosAndSleeps(pid);
            sums[0] += one[0];
            sums[1] += one[1];
        }
        return sums;
    }

    /** Resident set now, in KiB, over the process and its descendants. */
    public long rssKib() {
        return pids().stream().mapToLong(pid -> Math.max(0, ProcStat.statusKib(pid, "VmRSS"))).sum();
    }

    /** The kernel's high-water mark of the resident set (VmHWM), in KiB, summed the same way. */
    public long peakRssKib() {
        return pids().stream().mapToLong(pid -> Math.max(0, ProcStat.statusKib(pid, "VmHWM"))).sum();
    }

    /** SIGKILL, and waits for it: no shutdown hook runs, nothing is flushed or committed. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    public boolean alive() {
        return process.isAlive();
    }

    @Override
    public void close() {
        if (!process.isAlive()) {
            return;
        }
        List<ProcessHandle> children;
        try (Stream<ProcessHandle> descendants = process.descendants()) {
            children = descendants.toList();
        }
        process.destroy();
        try {
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        children.forEach(child -> {
            if (child.isAlive()) {
                child.destroyForcibly();
            }
        });
    }
}
