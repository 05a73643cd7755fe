package dev.tokentap.deploy;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.awaitility.core.ConditionTimeoutException;
import org.awaitility.core.TerminalFailureException;

/**
 * One of the project's jars run as it is deployed: {@code java -jar} with flags and environment variables, in a
 * JVM of its own, its output in a log file. Variables of the test's own environment that the jars read
 * ({@code TOKENTAP_*}, {@code KAFKA_*}) are not passed on, so only what the test sets is in effect.
 */
final class JarProcess implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private final String name;
    private final Process process;
    private final Path log;

    private JarProcess(String name, Process process, Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
    }

    /** The jar the build packaged, from a system property the build sets. */
    static Path jar(String property) {
        String value = System.getProperty(property);
        if (value == null || !Files.isRegularFile(Path.of(value))) {
            throw new IllegalStateException("no jar at " + value + " (" + property + "): build with the reactor, e.g. "
                    + "./mvnw verify -pl deploy-tests -am");
        }
        return Path.of(value);
    }

    static JarProcess start(String name, Path jar, List<String> args, Map<String, String> environment, Path logDir) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                // a small, quickly started JVM: these run beside the broker and the test on two cores
                "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", jar.toString()));
        command.addAll(args);
        Path log = logDir.resolve(name + ".log");
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().keySet().removeIf(k -> k.startsWith("TOKENTAP_") || k.startsWith("KAFKA_"));
        builder.environment().putAll(environment);
        try {
            return new JarProcess(name, builder.start(), log);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name, e);
        }
    }

    /** Waits until {@code url} answers 200; fails early, with the log, if the process ends first. */
    JarProcess awaitOk(URI url, Duration timeout) {
        try {
            await(name + " answering " + url).atMost(timeout).pollInterval(Duration.ofMillis(250))
                    .failFast(name + " exited", () -> !process.isAlive())
                    .until(() -> status(url) == 200);
        } catch (ConditionTimeoutException | TerminalFailureException e) {
            throw new AssertionError(e.getMessage() + "; the end of its log:\n" + logTail(), e);
        }
        return this;
    }

    String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }

    private static int status(URI url) {
        try {
            return HTTP.send(HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }
}
