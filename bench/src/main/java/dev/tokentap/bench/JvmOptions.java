package dev.tokentap.bench;

import java.util.List;
import java.util.Map;

/**
 * The JVM options tap-proxy runs with, in the bench and in the container image
 * (deploy/images/tap-proxy.Dockerfile repeats them in its entry point, and JvmOptionsTest checks the two agree).
 *
 * <ul>
 *   <li>{@code -Xms32m -Xmx96m}: the proxy's live data is small (connections' buffers, events waiting for Kafka,
 *       the producer's batches): about 21 MiB after a full collection with 256 streams in flight, some 35 KiB a
 *       stream beyond what an idle proxy holds. The cap leaves room for a few thousand streams waiting on a busy
 *       upstream; below it the collector commits only what the live data needs (about 60 MiB in that run).
 *       Without a cap the JVM sizes the heap from the host's memory (a quarter of it) and lets it fill with
 *       garbage before collecting.</li>
 *   <li>{@code -XX:+UseSerialGC}: what the JVM picks by itself on a container with under two CPUs; with a small,
 *       short-lived young generation its pauses are short, and it has none of G1's remembered-set and
 *       region overhead, which is a large share of a heap this size.</li>
 *   <li>{@code -XX:MaxMetaspaceSize=96m -XX:ReservedCodeCacheSize=64m -XX:MaxDirectMemorySize=64m -Xss512k}:
 *       bounds on the rest of the resident set (classes, compiled code, Jetty's direct buffers, thread stacks),
 *       well above what the proxy uses, so a leak fails loudly instead of growing.</li>
 *   <li>{@code -XX:TrimNativeHeapInterval=1000}: the JIT compiler's arenas and other short-lived native
 *       allocations come and go by the megabyte; glibc keeps what they freed, so the resident set drifted 30 to 40
 *       MiB above what native memory tracking counted as in use. Trimming every second hands it back, at 1 to 5 ms
 *       of one thread per trim on a loaded machine. (A product flag of OpenJDK 17.0.9 and later, and of 21.)</li>
 *   <li>{@code -XX:+ExitOnOutOfMemoryError}: a proxy that ran out of memory is restarted by its supervisor rather
 *       than limping on.</li>
 * </ul>
 *
 * <p>The image adds {@code -XX:SharedArchiveFile=}{@link #IMAGE_ARCHIVE}, a class data sharing archive it makes
 * at build time by running {@code dev.tokentap.proxy.TapProxyTraining} with these options under
 * {@code -XX:ArchiveClassesAtExit}. An archive holds the class path it was made for, so the bench makes its own
 * the same way for its {@code warmup} scenario ({@link WarmupScenario}); the other scenarios measure steady load,
 * which class loading at start does not touch, and run without one.
 */
public final class JvmOptions {

    public static final List<String> TAP_PROXY = List.of(
            "-Xms32m",
            "-Xmx96m",
            "-XX:+UseSerialGC",
            "-XX:MaxMetaspaceSize=96m",
            "-XX:ReservedCodeCacheSize=64m",
            "-XX:MaxDirectMemorySize=64m",
            "-Xss512k",
            "-XX:TrimNativeHeapInterval=1000",
            "-XX:+ExitOnOutOfMemoryError");

    /** Where the image keeps its class data sharing archive (the training run's output, the entry point's input). */
    public static final String IMAGE_ARCHIVE = "/opt/tokentap/tap-proxy.jsa";

    /**
     * Set in the proxy's environment beside the options: glibc gives every thread that allocates natively an arena
     * of its own (up to 8 per core), and on a busy proxy those half-empty arenas were tens of MiB of resident set
     * that no JVM flag bounds. Two arenas are plenty for the little the JVM mallocs outside its heap.
     */
    public static final Map<String, String> TAP_PROXY_ENVIRONMENT = Map.of("MALLOC_ARENA_MAX", "2");

    /** The simulator is the upstream, not what is measured: room enough that it never limits the load. */
    public static final List<String> SIMULATOR = List.of("-Xmx512m", "-XX:+UseParallelGC");

    private JvmOptions() {
    }
}
