package dev.tokentap.bench.netty;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.Routes;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.proxy.usage.MeteredRoutes;
import dev.tokentap.proxy.usage.RequestBodyRewriter;
import dev.tokentap.proxy.usage.ResponseFacts;
import dev.tokentap.proxy.usage.TraceContext;

/**
 * One request through the Netty path, from arrival to its usage event: the fields tap-proxy's own exchange keeps
 * for a JSON-bodied route, and its event built the same way (the {@code /inference/v1/generate} token counting and
 * the multipart form are left out, as nothing the bench sends needs them). Touched by the connection's event-loop
 * thread alone.
 */
final class NettyExchange {

    static final int CLIENT_CLOSED_REQUEST = 499;

    final String eventId;
    final long startedAt;
    final long startedNanos;
    final String method;
    /** The metered route, or null when the request is only forwarded. */
    final String route;
    final String forwardPath;
    final String requestId;
    final boolean requestIdGenerated;
    final TraceContext trace;
    final String clientAddress;
    final String apiKeyId;
    /** Reads (and may rewrite) the request body; null when the body is not read. */
    final RequestBodyRewriter body;
    final ResponseFacts facts = new ResponseFacts();
    long firstByteAt;
    int upstreamStatus = -1;
    boolean clientAborted;
    boolean lengthChanged;
    private boolean finished;

    NettyExchange(String eventId, long startedAt, long startedNanos, String method, String route, String forwardPath,
                  String requestId, boolean requestIdGenerated, TraceContext trace, String clientAddress,
                  String apiKeyId, RequestBodyRewriter body) {
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
        this.body = body;
    }

    boolean metered() {
        return route != null;
    }

    void firstByte(long now) {
        if (firstByteAt == 0) {
            firstByteAt = now;
        }
    }

    /** True the first time only. */
    boolean finish() {
        if (finished) {
            return false;
        }
        finished = true;
        return true;
    }

    boolean finished() {
        return finished;
    }

    String outcome(Throwable failure) {
        if (clientAborted) {
            return Outcome.CLIENT_ABORTED;
        }
        if (failure != null) {
            return upstreamStatus < 0 ? Outcome.UPSTREAM_UNREACHABLE : Outcome.UPSTREAM_ERROR;
        }
        if (upstreamStatus >= 400 || facts.errorSeen()) {
            return Outcome.UPSTREAM_ERROR;
        }
        return Outcome.OK;
    }

    /** Whether this exchange's event is published: always on a metered route, on {@code other} only with usage. */
    boolean publishable() {
        return metered() && (!MeteredRoutes.OTHER.equals(route) || facts.usage() != null);
    }

    UsageEvent toEvent(int status, String outcome, long endedAt, String proxyHost, String upstream) {
        ResponseFacts.Usage usage = facts.usage();
        if (usage != null && UsageSource.PARTIAL.equals(usageSource(usage, outcome))) {
            usage = facts.runningUsage();
        }
        String source = usageSource(usage, outcome);
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
                .model(body == null ? null : body.model())
                .responseModel(facts.responseModel())
                .stream(body != null && body.stream())
                .usageSource(source)
                .retrieval(responses ? Boolean.valueOf(Routes.RESPONSES_GET.equals(route)) : null)
                .responseStatus(responses ? facts.status() : null)
                .background(responses ? facts.background() : null)
                .clientAddress(clientAddress)
                .apiKeyId(apiKeyId)
                .user(body == null ? null : body.user())
                .proxyHost(proxyHost)
                .upstream(upstream);
        if (usage != null && !usage.invalid() && usage.audioSeconds() != null) {
            builder.audioSeconds(usage.audioSeconds());
        } else if (usage != null && !usage.invalid()) {
            builder.promptTokens(usage.promptTokens())
                    .completionTokens(usage.completionReported() ? usage.completionTokens() : Long.valueOf(0))
                    .completionTokensReported(usage.completionReported())
                    .totalTokens(usage.totalTokens())
                    .cachedTokens(usage.cachedTokens())
                    .reasoningTokens(usage.reasoningTokens());
        }
        return builder.build();
    }

    private String usageSource(ResponseFacts.Usage usage, String outcome) {
        if (usage == null) {
            return UsageSource.NONE;
        }
        if (usage.invalid()) {
            return UsageSource.INVALID;
        }
        return facts.finalUsageSeen() || Outcome.OK.equals(outcome) ? UsageSource.REPORTED : UsageSource.PARTIAL;
    }
}
