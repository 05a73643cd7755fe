package dev.tokentap.e2e;

import dev.tokentap.aggregator.AggregatorMain;
import dev.tokentap.bench.ChildProcess;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The aggregator in a JVM of its own, started as its jar would be ({@link AggregatorMain} with flags), so that it can
 * be killed without warning: an in-process {@code close()} always stops cleanly.
 */
final class AggregatorProcess implements AutoCloseable {

    private static final Set<ChildProcess> LIVE = ConcurrentHashMap.newKeySet();

    static {
        // the tests kill theirs in @AfterEach; this is for a test JVM that is itself stopped before it gets there
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(AggregatorProcess::killQuietly),
                "aggregator-process-reaper"));
    }

    private final ChildProcess process;
    private final int port;

    private AggregatorProcess(ChildProcess process, int port) {
        this.process = process;
        this.port = port;
    }

    /**
     * Starts an aggregator named {@code name} on a free loopback port with its state under {@code stateDir}, its
     * output going to {@code <logDir>/<name>.log}, and further flags {@code flags}, and waits until it answers
     * {@code /readyz}.
     */
    static AggregatorProcess start(String bootstrap, Path stateDir, Path logDir, String name, String... flags)
            throws IOException, InterruptedException {
        AggregatorProcess started = launch(bootstrap, stateDir, logDir, name, AggregatorMain.class.getName(),
                List.of(), flags);
        started.awaitReady();
        return started;
    }

    /**
     * Starts an aggregator as {@link #start} does, but with its own clock {@code clockOffset} away from the
     * machine's ({@link ClockShiftedAggregatorMain}), and returns without waiting for it.
     */
    static AggregatorProcess launchWithClock(String bootstrap, Path stateDir, Path logDir, String name,
                                             java.time.Duration clockOffset, String... flags) throws IOException {
        return launch(bootstrap, stateDir, logDir, name, ClockShiftedAggregatorMain.class.getName(),
                List.of("-D" + ClockShiftedAggregatorMain.OFFSET + "=" + clockOffset), flags);
    }

    private static AggregatorProcess launch(String bootstrap, Path stateDir, Path logDir, String name,
                                            String mainClass, List<String> jvmOptions, String... flags)
            throws IOException {
        int port = ChildProcess.freePort();
        List<String> args = new ArrayList<>(List.of(
                "--kafka", bootstrap,
                "--listen", "127.0.0.1",
                "--port", Integer.toString(port),
                "--state-dir", stateDir.toAbsolutePath().toString(),
                "--topic-partitions", "3",
                "--kubernetes", "off"));
        args.addAll(List.of(flags));
        // the broker's smallest session timeout: a member killed without leaving the group holds its partitions
        // until its session expires, 45 s by default, which would only make the test slow
        List<String> jvm = new ArrayList<>(List.of("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        jvm.addAll(jvmOptions);
        ChildProcess process = ChildProcess.java(name, jvm, Map.of("TOKENTAP_KAFKA_SESSION_TIMEOUT_MS", "6000"),
                mainClass, args, logDir);
        LIVE.add(process);
        return new AggregatorProcess(process, port);
    }

    /** Waits until it answers {@code /readyz}; kills it if it does not. */
    void awaitReady() throws IOException, InterruptedException {
        try {
            process.awaitHttpOk(URI.create("http://127.0.0.1:" + port + "/readyz"), UsageLedger.WAIT);
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    String url() {
        return "http://127.0.0.1:" + port;
    }

    /** SIGTERM, and waits: the shutdown hook closes Streams, which commits what it has. */
    void stop() {
        process.close();
        LIVE.remove(process);
    }

    String metricsUrl() {
        return "http://127.0.0.1:" + port + "/metrics";
    }

    /** SIGKILL: no shutdown hook, no last commit, no leaving the group; an open transaction is left open. */
    void kill() throws InterruptedException {
        process.kill();
        LIVE.remove(process);
    }

    boolean alive() {
        return process.alive();
    }

    @Override
    public void close() {
        killQuietly(process);
        LIVE.remove(process);
    }

    private static void killQuietly(ChildProcess process) {
        try {
            process.kill();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
