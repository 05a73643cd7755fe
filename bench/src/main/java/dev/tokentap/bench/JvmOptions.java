package dev.tokentap.bench;

import java.util.List;

/**
 * The JVM options tap-proxy runs with, in the bench and in the container image
 * (deploy/images/tap-proxy.Dockerfile repeats them in {@code JAVA_TOOL_OPTIONS}; keep the two the same).
 *
 * <ul>
 *   <li>{@code -Xms32m -Xmx160m}: the proxy's live data is small (a connection's buffers, events waiting for Kafka,
 *       the producer's batch buffer); without a cap the JVM sizes the heap from the host's memory and lets it grow
 *       to gigabytes of garbage before collecting.</li>
 *   <li>{@code -XX:+UseSerialGC}: what the JVM picks by itself on a container with under two CPUs; with a small,
 *       short-lived young generation its pauses are short, and it has none of G1's remembered-set and
 *       region overhead, which is a large share of a heap this size.</li>
 *   <li>{@code -XX:MaxMetaspaceSize=96m -XX:ReservedCodeCacheSize=64m -XX:MaxDirectMemorySize=64m -Xss512k}:
 *       bounds on the rest of the resident set (classes, compiled code, Jetty's direct buffers, thread stacks),
 *       well above what the proxy uses, so a leak fails loudly instead of growing.</li>
 *   <li>{@code -XX:+ExitOnOutOfMemoryError}: a proxy that ran out of memory is restarted by its supervisor rather
 *       than limping on.</li>
 * </ul>
 */
public final class JvmOptions {

    public static final List<String> TAP_PROXY = List.of(
            "-Xms32m",
            "-Xmx160m",
            "-XX:+UseSerialGC",
            "-XX:MaxMetaspaceSize=96m",
            "-XX:ReservedCodeCacheSize=64m",
            "-XX:MaxDirectMemorySize=64m",
            "-Xss512k",
            "-XX:+ExitOnOutOfMemoryError");

    /** The simulator is the upstream, not what is measured: room enough that it never limits the load. */
    public static final List<String> SIMULATOR = List.of("-Xmx512m", "-XX:+UseParallelGC");

    private JvmOptions() {
    }
}
