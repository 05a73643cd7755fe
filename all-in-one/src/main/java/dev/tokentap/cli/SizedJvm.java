package dev.tokentap.cli;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What {@code tokentap run} and {@code demo} run in when started as a newcomer starts them ({@code java -jar}, no
 * options): a JVM left to itself takes a quarter of the host's memory as its heap and fills it before collecting,
 * so the process grows with the host, not with the load. The launcher cannot pass options to {@code java -jar}, so
 * it starts itself once more with them ({@link #command}) and waits for that process; a JVM given a heap size of its
 * own ({@code -Xmx}, {@code -XX:MaxRAMPercentage} and the like) is left as it is.
 */
final class SizedJvm {

    /** Marks the JVM the launcher started, so it does not start another. */
    static final String SIZED_PROPERTY = "tokentap.sized-jvm";

    /** The commands that run the whole system in this process. */
    private static final Set<String> LONG_RUNNING = Set.of("run", "demo");

    /**
     * The options: tap-proxy's image options (docs/benchmarks.md) with room for the embedded broker, Kafka Streams
     * and the aggregator next to the proxy. RocksDB's memory is native and bounded by the aggregator's own settings.
     * The heap cap is a little over twice what was live after a full collection under 256 streams (71 MiB); the
     * serial collector grows the heap to its cap under such a load and keeps it, so the cap is what the heap costs
     * in resident memory.
     */
    static final List<String> OPTIONS = List.of(
            "-Xms64m", "-Xmx160m", "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=160m",
            "-XX:ReservedCodeCacheSize=96m", "-XX:MaxDirectMemorySize=96m", "-Xss512k",
            "-XX:TrimNativeHeapInterval=1000", "-XX:+ExitOnOutOfMemoryError");

    /** glibc makes up to eight malloc arenas a core otherwise, each keeping what it once held. */
    static final Map<String, String> ENVIRONMENT = Map.of("MALLOC_ARENA_MAX", "2");

    private static final List<String> SIZING_FLAGS = List.of("-Xmx", "-XX:MaxHeapSize", "-XX:MaxRAM",
            "-XX:MaxRAMPercentage", "-XX:MaxRAMFraction");

    private SizedJvm() {
    }

    /**
     * The command line that starts this launcher again in a sized JVM, or empty when this one should run the
     * command itself: another command, a JVM already sized, or no way to find the java binary or the jar.
     */
    static Optional<List<String>> command(String[] args, List<String> jvmArguments, Optional<String> javaBinary,
                                          String classPath, String sizedProperty) {
        if (args.length == 0 || !LONG_RUNNING.contains(args[0]) || sizedProperty != null
                || javaBinary.isEmpty() || classPath == null || classPath.isBlank()) {
            return Optional.empty();
        }
        for (String argument : jvmArguments) {
            for (String flag : SIZING_FLAGS) {
                if (argument.startsWith(flag)) {
                    return Optional.empty();
                }
            }
        }
        List<String> command = new ArrayList<>();
        command.add(javaBinary.get());
        command.addAll(OPTIONS);
        command.addAll(jvmArguments);
        command.add("-D" + SIZED_PROPERTY + "=true");
        command.add("-cp");
        command.add(classPath);
        command.add(TokentapMain.class.getName());
        command.addAll(List.of(args));
        return Optional.of(command);
    }

    /** {@link #command} for this JVM. */
    static Optional<List<String>> commandForThisJvm(String[] args) {
        return command(args, ManagementFactory.getRuntimeMXBean().getInputArguments(),
                ProcessHandle.current().info().command(), System.getProperty("java.class.path"),
                System.getProperty(SIZED_PROPERTY));
    }

    /**
     * Runs {@code command} with this process's terminal and returns its exit code. A stop of this process (Ctrl-C,
     * SIGTERM) is passed on, and this one waits for the child to drain and stop.
     */
    static int run(List<String> command) throws java.io.IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(command).inheritIO();
        builder.environment().putAll(ENVIRONMENT);
        Process child = builder.start();
        Thread passOn = new Thread(() -> {
            child.destroy();
            try {
                child.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "tokentap-stop-child");
        Runtime.getRuntime().addShutdownHook(passOn);
        int code = child.waitFor();
        try {
            Runtime.getRuntime().removeShutdownHook(passOn);
        } catch (IllegalStateException stopping) {
            // the hook is already running: it waits for the same child
        }
        return code;
    }
}
