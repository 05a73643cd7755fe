package dev.tokentap.proxy.http;

import org.eclipse.jetty.http.HttpException;

/**
 * Why the proxy did not forward a request, with the status and OpenAI-style body the client gets. Each is recorded
 * with {@code outcome="rejected"}: nothing of the request reached the upstream (a held body is forwarded only once
 * complete), or, for a multipart upload already streaming, the upstream's request was cut before it was whole.
 */
enum Refusal {
    /** The body passed {@code --max-request-bytes}. */
    TOO_LARGE(413, "The request body is larger than this proxy accepts.", "RequestTooLargeError"),
    /** Holding the body would pass {@code --request-memory-budget}: the proxy holds enough bodies now. */
    OVER_BUDGET(503, "The proxy is holding as many request bodies as its memory allows; retry shortly.",
            "ServiceUnavailableError"),
    /** The body's framing is broken, e.g. a chunk size that is not hexadecimal. */
    MALFORMED(400, "The request body could not be read: its framing is malformed.", "BadRequestError"),
    /** The client sent its body too slowly (idle timeout, minimum data rate). */
    TOO_SLOW(408, "The request was not received in time.", "RequestTimeoutError"),
    /** The proxy failed on its own before anything was sent upstream. */
    FAILED(500, "The proxy failed before forwarding the request; nothing was sent upstream.", "InternalServerError");

    final int status;
    private final byte[] body;
    /** The tag value of {@code tokentap_proxy_refusals_total}. */
    final String reason;

    Refusal(int status, String message, String type) {
        this.status = status;
        this.body = OpenAiError.body(status, message, type);
        this.reason = name().toLowerCase(java.util.Locale.ROOT);
    }

    byte[] body() {
        return body.clone();
    }

    /**
     * The refusal a failure to read the client's body stands for, or null when it is none of the proxy's: the
     * client went away (an I/O failure) or the upstream did.
     */
    static Refusal of(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof BodyTooLarge) {
                return TOO_LARGE;
            }
            if (t instanceof RequestMemoryBudget.Exhausted) {
                return OVER_BUDGET;
            }
            if (t instanceof org.eclipse.jetty.io.EofException) {
                // the connection ended mid-body (Jetty's early EOF is an HttpException too): the client left
                return null;
            }
            if (t instanceof HttpException http && http.getCode() >= 400 && http.getCode() < 500) {
                // Jetty's parser gave up on the body (a bad chunk size, a chunk past its declared length)
                return http.getCode() == 413 ? TOO_LARGE : http.getCode() == 408 ? TOO_SLOW : MALFORMED;
            }
        }
        return Exchange.isTimeout(failure) ? TOO_SLOW : null;
    }

    /**
     * Whether a failure is the proxy's own rather than an I/O one: no I/O exception and no timeout anywhere in its
     * chain (an error such as running out of memory, a bug).
     */
    static boolean isOwnFailure(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof java.io.IOException || t instanceof java.util.concurrent.TimeoutException
                    || t instanceof java.nio.channels.UnresolvedAddressException || t instanceof HttpException) {
                return false;
            }
        }
        return failure != null;
    }
}
