package dev.tokentap.e2e;

import static org.awaitility.Awaitility.await;

import dev.tokentap.aggregator.AggregatorMain;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The aggregator in a JVM of its own, started as its jar would be ({@link AggregatorMain} with flags), so that it can
 * be killed without warning: an in-process {@code close()} always stops cleanly.
 */
final class AggregatorProcess implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        // the tests kill theirs in @AfterEach; this is for a test JVM that is itself stopped before it gets there
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly),
                "aggregator-process-reaper"));
    }

    private final Process process;
    private final int port;
    private final Path log;

    private AggregatorProcess(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    /**
     * Starts an aggregator on a free loopback port with its state under {@code stateDir}, its output going to
     * {@code log}, and further flags {@code flags}, and waits until it answers {@code /readyz}.
     */
    static AggregatorProcess start(String bootstrap, Path stateDir, Path log, String... flags) throws IOException {
        int port = freePort();
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"),
                AggregatorMain.class.getName(),
                "--kafka", bootstrap,
                "--listen", "127.0.0.1",
                "--port", Integer.toString(port),
                "--state-dir", stateDir.toString(),
                "--topic-partitions", "3",
                "--kubernetes", "off"));
        command.addAll(List.of(flags));
        Files.createDirectories(log.getParent());
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        // the broker's smallest session timeout: a member killed without leaving the group holds its partitions
        // until its session expires, 45 s by default, which would only make the test slow
        builder.environment().put("TOKENTAP_KAFKA_SESSION_TIMEOUT_MS", "6000");
        Process process = builder.start();
        LIVE.add(process);
        AggregatorProcess started = new AggregatorProcess(process, port, log);
        try {
            await().atMost(UsageLedger.WAIT).pollInterval(Duration.ofMillis(250)).until(started::ready);
        } catch (RuntimeException e) {
            started.close();
            throw e;
        }
        return started;
    }

    String metricsUrl() {
        return "http://127.0.0.1:" + port + "/metrics";
    }

    Path log() {
        return log;
    }

    /** SIGKILL: no shutdown hook, no last commit, no leaving the group; an open transaction is left open. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
        LIVE.remove(process);
    }

    boolean alive() {
        return process.isAlive();
    }

    @Override
    public void close() {
        process.destroyForcibly();
        try {
            process.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LIVE.remove(process);
    }

    private boolean ready() {
        if (!process.isAlive()) {
            throw new IllegalStateException("the aggregator exited with " + process.exitValue() + ", see " + log);
        }
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                            + "/readyz")).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException e) {
            return false; // not listening yet
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
