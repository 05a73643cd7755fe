package dev.tokentap.event;

import java.util.Set;

/**
 * The values of {@link UsageEvent#outcome()}. Strings rather than an enum so that a consumer built against this
 * version still reads events from a newer proxy that knows more outcomes.
 */
public final class Outcome {
    /** The upstream answered 2xx and the response reached the client. */
    public static final String OK = "ok";
    /** The upstream answered 4xx or 5xx, or sent an error event inside a stream. */
    public static final String UPSTREAM_ERROR = "upstream_error";
    /** The upstream could not be connected to; the client got 502. */
    public static final String UPSTREAM_UNREACHABLE = "upstream_unreachable";
    /** The upstream did not answer in time; the client got 504. */
    public static final String UPSTREAM_TIMEOUT = "upstream_timeout";
    /** The client went away before the response was complete. */
    public static final String CLIENT_ABORTED = "client_aborted";
    /**
     * The proxy did not forward the request: it refused it (413 over its size limit, 503 over its request memory
     * budget, 400 a malformed body, 408 too slow) or failed on its own (500) before anything was sent upstream.
     */
    public static final String REJECTED = "rejected";

    /** Every outcome this version knows. */
    public static final Set<String> ALL = Set.of(OK, UPSTREAM_ERROR, UPSTREAM_UNREACHABLE, UPSTREAM_TIMEOUT,
            CLIENT_ABORTED, REJECTED);

    private Outcome() {
    }
}
