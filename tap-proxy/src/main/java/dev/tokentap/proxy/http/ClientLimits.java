package dev.tokentap.proxy.http;

import dev.tokentap.config.Problems;
import java.time.Duration;

/**
 * What the proxy port allows a client, against clients that stall or flood (slow-loris, huge heads and bodies), what
 * all the bodies it holds may take together, and how long a client's request may run on once the proxy is told to
 * stop.
 *
 * @param idleTimeout     silence allowed while the proxy waits to read; Jetty does not count the time a request is
 *                        handled with no I/O pending, so a client waiting for a slow response is not cut
 * @param headerTimeout   time allowed to send a request line and headers, however steadily the bytes come
 * @param maxHeaderBytes  largest request line and headers; more is answered 431
 * @param maxRequestBytes largest request body forwarded; a larger one is answered 413
 * @param minRequestRate  bytes per second below which a request body being read is cut; 0 for no minimum
 * @param maxThreads      threads of the proxy port's pool, which the upstream client shares
 * @param drainTimeout    on shutdown, how long requests in flight (streams too) may take to finish before they are cut
 * @param requestMemoryBudget bytes all request bodies held in the proxy at once may take; a body that would pass it
 *                            is answered 503; at least {@code maxRequestBytes}
 */
public record ClientLimits(Duration idleTimeout, Duration headerTimeout, int maxHeaderBytes, long maxRequestBytes,
                           long minRequestRate, int maxThreads, Duration drainTimeout, long requestMemoryBudget) {

    /** Headers cannot be read into less; a smaller limit would refuse ordinary clients. */
    public static final int MIN_HEADER_BYTES = 1024;
    /** The largest buffer Jetty's parser is given; a limit beyond it could not be reached anyway. */
    public static final int MAX_HEADER_BYTES = 1 << 20;
    /** Acceptor, selectors of the server and of the upstream client, and a few threads left to run requests. */
    public static final int MIN_THREADS = 8;

    public ClientLimits {
        new Problems()
                .positive("--client-idle-timeout", idleTimeout)
                .positive("--client-header-timeout", headerTimeout)
                .check(maxHeaderBytes >= MIN_HEADER_BYTES && maxHeaderBytes <= MAX_HEADER_BYTES,
                        "--max-header-bytes must be between " + MIN_HEADER_BYTES + " and " + MAX_HEADER_BYTES
                                + " (1 KiB to 1 MiB), got " + maxHeaderBytes)
                .atLeast("--max-request-bytes", maxRequestBytes, 1)
                .atLeast("--client-min-request-rate", minRequestRate, 0)
                .atLeast("--max-threads", maxThreads, MIN_THREADS)
                .notNegative("--drain-timeout", drainTimeout)
                .check(requestMemoryBudget >= maxRequestBytes, "--request-memory-budget must be at least "
                        + "--max-request-bytes (" + maxRequestBytes + "), or a body the proxy accepts could never be "
                        + "held, got " + requestMemoryBudget)
                .throwIfAny();
    }

    /**
     * The proxy is asynchronous: a thread runs a request only while there are bytes to move, and a stream waiting
     * for its next token holds none. A few threads per core keep the cores busy; more only cost memory (each
     * thread's stack and its buffers) after a burst, and Javalin's default of 250 grew to that many under 256
     * streams.
     */
    public static int defaultMaxThreads() {
        return Math.max(16, 4 * Runtime.getRuntime().availableProcessors());
    }
}
