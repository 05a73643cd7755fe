package dev.tokentap.proxy;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * tap-proxy in a JVM of its own, started with the container image's JVM options and environment (read from
 * deploy/images/tap-proxy.Dockerfile, so the test runs what the image runs): the heap cap, the serial collector,
 * {@code -XX:+ExitOnOutOfMemoryError}. A proxy that runs out of memory therefore exits, and its resident set is its
 * own, read from /proc.
 */
final class ProxyProcess implements AutoCloseable {

    private static final Path DOCKERFILE = Path.of("..", "deploy", "images", "tap-proxy.Dockerfile");

    private final Process process;
    private final Path log;
    private final int port;
    private final int adminPort;

    private ProxyProcess(Process process, Path log, int port, int adminPort) {
        this.process = process;
        this.log = log;
        this.port = port;
        this.adminPort = adminPort;
    }

    /** The JVM options of the image's entry point: everything between {@code java} and {@code -jar}. */
    static List<String> imageJvmOptions() throws IOException {
        List<String> words = entrypoint();
        return List.copyOf(words.subList(1, words.indexOf("-jar")));
    }

    /** The environment the image sets, {@code ENV NAME=value}. */
    static Map<String, String> imageEnvironment() throws IOException {
        Map<String, String> environment = new java.util.TreeMap<>();
        Matcher env = Pattern.compile("(?m)^ENV (\\w+)=(\\S+)$").matcher(Files.readString(DOCKERFILE));
        while (env.find()) {
            environment.put(env.group(1), env.group(2));
        }
        return environment;
    }

    private static List<String> entrypoint() throws IOException {
        Matcher entrypoint = Pattern.compile("(?m)^ENTRYPOINT \\[(.*)]$").matcher(Files.readString(DOCKERFILE));
        if (!entrypoint.find()) {
            throw new IllegalStateException("no ENTRYPOINT in exec form in " + DOCKERFILE);
        }
        List<String> words = new ArrayList<>();
        Matcher quoted = Pattern.compile("\"([^\"]*)\"").matcher(entrypoint.group(1));
        while (quoted.find()) {
            words.add(quoted.group(1));
        }
        return words;
    }

    /**
     * Starts {@link TapProxyMain} on free loopback ports with the image's options and {@code flags}, its output in
     * {@code workDir/proxy.log} (the spool directory, if the image's environment names one, is moved under
     * {@code workDir}), and waits until it answers {@code /readyz}.
     */
    static ProxyProcess start(Path dir, List<String> flags) throws IOException {
        Path workDir = dir.toAbsolutePath();
        Files.createDirectories(workDir);
        int port = freePort();
        int adminPort = freePort();
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // the image's class data sharing archive is made for its jar, not this class path: only the memory
        // bounds are what this test runs as the image does
        imageJvmOptions().stream().filter(option -> !option.startsWith("-XX:SharedArchiveFile="))
                .forEach(command::add);
        command.add("-cp");
        command.add(absoluteClassPath());
        command.add(TapProxyMain.class.getName());
        command.addAll(List.of("--listen", "127.0.0.1", "--port", Integer.toString(port),
                "--admin-port", Integer.toString(adminPort)));
        command.addAll(flags);
        Path log = workDir.resolve("proxy.log");
        ProcessBuilder builder = new ProcessBuilder(command).directory(workDir.toFile())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().putAll(imageEnvironment());
        builder.environment().put("TOKENTAP_SPOOL_DIR", workDir.resolve("spool").toString());
        ProxyProcess proxy = new ProxyProcess(builder.start(), log, port, adminPort);
        try {
            // a JVM starting on two cores shared with a whole build can take a minute before its first line
            proxy.awaitReady(Duration.ofMinutes(2));
        } catch (RuntimeException | Error e) {
            proxy.close();
            throw e;
        }
        return proxy;
    }

    private static String absoluteClassPath() {
        List<String> entries = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            if (!entry.isEmpty()) {
                entries.add(Path.of(entry).toAbsolutePath().toString());
            }
        }
        return String.join(java.io.File.pathSeparator, entries);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private void awaitReady(Duration timeout) {
        URI readyz = URI.create("http://127.0.0.1:" + adminPort + "/readyz");
        org.awaitility.Awaitility.await("tap-proxy ready, see " + log).atMost(timeout)
                .pollInterval(Duration.ofMillis(100))
                .failFast("tap-proxy exited; see " + log, () -> !process.isAlive())
                .ignoreExceptions()
                .until(() -> Http.CLIENT.send(HttpRequest.newBuilder(readyz).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200);
    }

    int port() {
        return port;
    }

    String baseUrl() {
        return "http://127.0.0.1:" + port;
    }

    String metricsUrl() {
        return "http://127.0.0.1:" + adminPort + "/metrics";
    }

    long pid() {
        return process.pid();
    }

    boolean alive() {
        return process.isAlive();
    }

    Path log() {
        return log;
    }

    /** The kernel's high-water mark of the process's resident set ({@code VmHWM}), in KiB. */
    long peakRssKib() throws IOException {
        return statusKib("VmHWM");
    }

    /** The process's resident set now ({@code VmRSS}), in KiB. */
    long rssKib() throws IOException {
        return statusKib("VmRSS");
    }

    private long statusKib(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.substring(field.length() + 1).replace("kB", "").strip());
            }
        }
        throw new IOException("no " + field + " in /proc/" + process.pid() + "/status");
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
