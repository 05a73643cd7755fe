package dev.tokentap.proxy.http;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.Routes;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.proxy.usage.MeteredRoutes;
import dev.tokentap.proxy.usage.MultipartModelReader;
import dev.tokentap.proxy.usage.RequestBodyRewriter;
import dev.tokentap.proxy.usage.ResponseFacts;
import dev.tokentap.proxy.usage.TraceContext;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The state of one proxied request, from arrival to the moment its usage event is built. Fields are written by the
 * Jetty threads that handle the exchange's steps one after another, and read once when it finishes.
 */
final class Exchange {

    /** Status recorded for a client that went away before a response was committed (nginx's convention). */
    static final int CLIENT_CLOSED_REQUEST = 499;

    final String eventId;
    final long startedAt;
    final long startedNanos;
    final String method;
    /** The metered route, or null when the request is only forwarded. */
    final String route;
    /** The path sent upstream (encoded, normalised), or null when it is not a valid path. */
    final String forwardPath;
    final String requestId;
    final boolean requestIdGenerated;
    final TraceContext trace;
    final String clientAddress;
    final String apiKeyId;
    final String tenant;
    /** Reads (and may rewrite) the request body of a metered request; null when the body is not read. */
    final RequestBodyRewriter body;
    final ResponseFacts facts = new ResponseFacts();
    /** Holds back the end of the response until the event is handed over for good. */
    final ResponseEnd end = new ResponseEnd();
    /** Reads the {@code model} field of a multipart (audio) request; null for other requests. */
    private volatile MultipartModelReader form;

    private volatile long firstByteAt;
    private volatile int upstreamStatus = -1;
    private volatile boolean clientAborted;
    private volatile Refusal refusal;
    private volatile boolean sentUpstream;
    /** This request's share of the memory held bodies take; null while it holds none. */
    private volatile RequestMemoryBudget.Share bodyMemory;
    private volatile boolean holdsBody;
    private volatile boolean uploadFailedUpstream;
    private volatile boolean lengthPreserved = true;
    private volatile int errorStatusSent = -1;
    private final AtomicBoolean finished = new AtomicBoolean();

    Exchange(String eventId, long startedAt, long startedNanos, String method, String route, String forwardPath,
             String requestId, boolean requestIdGenerated, TraceContext trace, String clientAddress, String apiKeyId,
             String tenant, RequestBodyRewriter body) {
        this.eventId = eventId;
        this.startedAt = startedAt;
        this.startedNanos = startedNanos;
        this.method = method;
        this.route = route;
        this.forwardPath = forwardPath;
        this.requestId = requestId;
        this.requestIdGenerated = requestIdGenerated;
        this.trace = trace;
        this.clientAddress = clientAddress;
        this.apiKeyId = apiKeyId;
        this.tenant = tenant;
        this.body = body;
    }

    void form(MultipartModelReader reader) {
        form = reader;
    }

    MultipartModelReader form() {
        return form;
    }

    private String requestModel() {
        if (body != null) {
            return body.model();
        }
        MultipartModelReader reader = form;
        return reader == null ? null : reader.model();
    }

    boolean metered() {
        return route != null;
    }

    void firstByte(long now) {
        if (firstByteAt == 0) {
            firstByteAt = now;
        }
    }

    void upstreamStatus(int status) {
        upstreamStatus = status;
    }

    int upstreamStatus() {
        return upstreamStatus;
    }

    void clientAborted() {
        clientAborted = true;
    }

    /** The body is read in full before the upstream request is opened (see {@link HeldBody}). */
    void holdsBody(boolean value) {
        holdsBody = value;
    }

    boolean holdsBody() {
        return holdsBody;
    }

    /** The proxy refused the request itself, for this reason; nothing of it reached the upstream. */
    void rejected(Refusal why) {
        if (refusal == null) {
            refusal = why;
        }
    }

    boolean isRejected() {
        return refusal != null;
    }

    /** Why the proxy refused the request, or null. */
    Refusal refusal() {
        return refusal;
    }

    /** The upstream request's head has been written to the upstream. */
    void sentUpstream() {
        sentUpstream = true;
    }

    boolean wasSentUpstream() {
        return sentUpstream;
    }

    /** The share of the request memory budget this request's held body takes. */
    void bodyMemory(RequestMemoryBudget.Share share) {
        bodyMemory = share;
    }

    RequestMemoryBudget.Share bodyMemory() {
        return bodyMemory;
    }

    /** Gives the held body's memory back to the budget: once it has been sent, or however the exchange ended. */
    void releaseBodyMemory() {
        RequestMemoryBudget.Share share = bodyMemory;
        if (share != null) {
            share.release();
        }
    }

    /** Sending the request body failed because the upstream request failed, not because the client did. */
    void uploadFailedUpstream(boolean value) {
        uploadFailedUpstream = value;
    }

    boolean uploadFailedUpstream() {
        return uploadFailedUpstream;
    }

    boolean isClientAborted() {
        return clientAborted;
    }

    /** The response body will differ in length from the upstream's (the tap removes an event). */
    void lengthChanged() {
        lengthPreserved = false;
    }

    boolean lengthPreserved() {
        return lengthPreserved;
    }

    void errorStatusSent(int status) {
        errorStatusSent = status;
    }

    int errorStatusSent() {
        return errorStatusSent;
    }

    /** True the first time only: the exchange is finished exactly once, whatever path ends it. */
    boolean finish() {
        return finished.compareAndSet(false, true);
    }

    /** How the exchange ended, given the failure that ended it (null when it completed normally). */
    String outcome(Throwable failure) {
        if (refusal != null) {
            return Outcome.REJECTED;
        }
        return outcome(clientAborted, failure, upstreamStatus, facts.errorSeen());
    }

    static String outcome(boolean clientAborted, Throwable failure, int upstreamStatus, boolean errorSeen) {
        if (clientAborted) {
            return Outcome.CLIENT_ABORTED;
        }
        if (failure != null) {
            if (isTimeout(failure)) {
                return Outcome.UPSTREAM_TIMEOUT;
            }
            return upstreamStatus < 0 ? Outcome.UPSTREAM_UNREACHABLE : Outcome.UPSTREAM_ERROR;
        }
        if (upstreamStatus >= 400 || errorSeen) {
            return Outcome.UPSTREAM_ERROR;
        }
        return Outcome.OK;
    }

    static boolean isTimeout(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof TimeoutException) {
                return true;
            }
        }
        return false;
    }

    /** Whether the client asked for a stream, in its JSON body or its form. */
    private boolean stream() {
        if (body != null) {
            return body.stream();
        }
        MultipartModelReader reader = form;
        return reader != null && reader.stream();
    }

    /** Whether the proxy asked the upstream for usage the client did not ask for, which the tap then removes. */
    boolean injectedUsage() {
        if (body != null) {
            return body.injected();
        }
        MultipartModelReader reader = form;
        return reader != null && reader.injected();
    }

    /** Whether what was injected asks for a usage in every chunk too. */
    boolean injectedContinuousUsage() {
        if (body != null) {
            return body.injectedContinuousUsage();
        }
        MultipartModelReader reader = form;
        return reader != null && reader.injectedContinuousUsage();
    }

    /** The route whose handler answers: for {@code /invocations}, the one its body is for (null for pooling). */
    String bodyRoute() {
        return body == null ? route : body.bodyRoute();
    }

    /**
     * The usage of an {@code /inference/v1/generate} answer that reported none, as vLLM counts it: the request's
     * prompt token ids and the token ids of every choice; null when there is nothing to count.
     */
    private ResponseFacts.Usage countedTokens(String outcome) {
        if (!Routes.GENERATE.equals(route) || body == null || body.tokenIds() == 0) {
            return null;
        }
        long generated = facts.generatedTokenIds();
        if (generated == 0 && !Outcome.OK.equals(outcome)) {
            return null;
        }
        long prompt = body.tokenIds();
        if (prompt > UsageEvent.MAX_USAGE || generated > UsageEvent.MAX_USAGE) {
            return ResponseFacts.Usage.INVALID;
        }
        return new ResponseFacts.Usage(prompt, generated, prompt + generated, null, null);
    }

    /** The usage event of a finished metered exchange. */
    UsageEvent toEvent(int status, String outcome, long endedAt, String proxyHost, String upstream) {
        ResponseFacts.Usage usage = facts.usage();
        ResponseFacts.Usage counted = usage == null ? countedTokens(outcome) : null;
        if (usage != null && UsageSource.PARTIAL.equals(usageSource(usage, outcome))) {
            usage = facts.runningUsage();
        }
        String source = counted != null
                ? (counted.invalid() ? UsageSource.INVALID
                        : Outcome.OK.equals(outcome) ? UsageSource.COUNTED : UsageSource.PARTIAL)
                : usageSource(usage, outcome);
        if (counted != null) {
            usage = counted;
        }
        boolean responses = Routes.RESPONSES.equals(route) || Routes.RESPONSES_GET.equals(route);
        UsageEvent.Builder builder = UsageEvent.builder()
                .eventId(eventId)
                .requestId(requestId)
                .responseId(facts.responseId())
                .traceId(trace == null ? null : trace.traceId())
                .spanId(trace == null ? null : trace.spanId())
                .startedAt(startedAt)
                .firstByteAt(firstByteAt == 0 ? null : firstByteAt)
                .endedAt(endedAt)
                .method(method)
                .route(route)
                .status(status)
                .outcome(outcome)
                .model(requestModel())
                .responseModel(facts.responseModel())
                .stream(stream())
                .usageSource(source)
                .retrieval(responses ? Boolean.valueOf(Routes.RESPONSES_GET.equals(route)) : null)
                .responseStatus(responses ? facts.status() : null)
                .background(responses ? facts.background() : null)
                .clientAddress(clientAddress)
                .apiKeyId(apiKeyId)
                .user(body == null ? null : body.user())
                .tenant(tenant)
                .proxyHost(proxyHost)
                .upstream(upstream);
        // an invalid usage carries no counts: the upstream's could not be counts
        if (usage != null && !usage.invalid() && usage.audioSeconds() != null) {
            builder.audioSeconds(usage.audioSeconds());
        } else if (usage != null && !usage.invalid()) {
            builder.promptTokens(usage.promptTokens())
                    // vLLM's null (or absent) completion_tokens means none were generated: 0, and the event says so
                    .completionTokens(usage.completionReported() ? usage.completionTokens() : Long.valueOf(0))
                    .completionTokensReported(usage.completionReported())
                    .totalTokens(usage.totalTokens())
                    .cachedTokens(usage.cachedTokens())
                    .reasoningTokens(usage.reasoningTokens());
        }
        return builder.build();
    }

    /**
     * {@code reported} for vLLM's final usage, or for the last usage of a stream that ended well; {@code partial}
     * for the running total of a stream that ended early (client gone, upstream died, error event); {@code invalid}
     * when what it reported were not counts.
     */
    private String usageSource(ResponseFacts.Usage usage, String outcome) {
        if (usage == null) {
            return UsageSource.NONE;
        }
        if (usage.invalid()) {
            return UsageSource.INVALID;
        }
        return facts.finalUsageSeen() || Outcome.OK.equals(outcome) ? UsageSource.REPORTED : UsageSource.PARTIAL;
    }

    /** Whether this exchange's event is published: always on a metered route, on {@code other} only with usage. */
    boolean publishable() {
        return metered() && (!MeteredRoutes.OTHER.equals(route) || facts.usage() != null);
    }
}
