package dev.tokentap.event;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;

/**
 * One proxied request that reached the tap: who called, which route and model, what vLLM reported as token
 * usage, and how the request ended. Published by tap-proxy to {@link Topics#USAGE}, keyed by
 * {@link #clientAddress()}; JSON with snake_case names, absent fields are null.
 *
 * <p>{@link #eventId()} is the idempotency key end to end: a consumer that sees the same id twice must count it
 * once.
 *
 * @param eventId         time-ordered UUID (version 7), unique per request
 * @param schemaVersion   {@value #SCHEMA_VERSION} for this contract
 * @param requestId       the client's {@code X-Request-Id}, or the one the proxy generated and sent upstream
 * @param responseId      vLLM's response id ({@code chatcmpl-…}, {@code cmpl-…}, {@code resp_…}), when present
 * @param traceId         W3C trace id from an incoming {@code traceparent}, when present
 * @param spanId          W3C parent span id from an incoming {@code traceparent}, when present
 * @param startedAt       epoch milliseconds when the proxy received the request
 * @param firstByteAt     epoch milliseconds of the first response body byte (time to first token for streams)
 * @param endedAt         epoch milliseconds when the exchange ended
 * @param method          HTTP method
 * @param route           request path without query string, e.g. {@code /v1/chat/completions}
 * @param status          HTTP status sent to the client
 * @param outcome         one of {@link Outcome}
 * @param model           the request body's {@code model}
 * @param responseModel   the response's {@code model}
 * @param stream          whether the client asked for a stream
 * @param promptTokens    as reported by vLLM
 * @param completionTokens as reported by vLLM
 * @param totalTokens     as reported by vLLM
 * @param cachedTokens    {@code prompt_tokens_details.cached_tokens}, when reported
 * @param reasoningTokens {@code completion_tokens_details.reasoning_tokens}, when reported
 * @param usageSource     one of {@link UsageSource}; {@link UsageSource#INVALID} with no counts when the upstream's were
 *                        not counts
 * @param clientAddress   TCP peer address of the caller (X-Forwarded-For only from trusted proxies)
 * @param apiKeyId        keyed hash (HMAC-SHA-256) of the bearer token, never the token; null without a key
 * @param user            the OpenAI {@code user} field, truncated to {@value #MAX_USER_LENGTH} characters
 * @param tenant          the value of the configured tenant header, when present and sent by one of the proxy's
 *                        trusted proxies (the gateway that authenticated the caller)
 * @param proxyHost       host name of the proxy that served the request (the pod name in Kubernetes)
 * @param upstream        authority of the upstream that served it
 * @param audioSeconds    seconds of audio billed, when vLLM reported usage as {@code {"type":"duration"}}; no tokens
 *                        are counted then
 * @param completionTokensReported false when vLLM's usage object had {@code completion_tokens} null or absent (the
 *                        event then says 0); true when it carried a number; null when there was no usage object
 * @param retrieval       for the Responses API only: true when the request read back a stored response
 *                        ({@code GET /v1/responses/{id}}), false when it created one ({@code POST /v1/responses});
 *                        null on every other route. A response is billed once (see {@link #background()})
 * @param responseStatus  for the Responses API only: the {@code status} of the response object as last seen
 *                        ({@code queued}, {@code in_progress}, {@code completed}, {@code incomplete}, {@code failed},
 *                        {@code cancelled}), when there was one
 * @param background      for the Responses API only: the response object's {@code background} flag, when there was
 *                        one. The answer that creates a response that is not a background one carries its final
 *                        usage, so a retrieval of it never adds tokens; a background response's usage is counted at
 *                        the first event of its id that shows it, whichever that is
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record UsageEvent(
        String eventId,
        int schemaVersion,
        String requestId,
        String responseId,
        String traceId,
        String spanId,
        Long startedAt,
        Long firstByteAt,
        Long endedAt,
        String method,
        String route,
        int status,
        String outcome,
        String model,
        String responseModel,
        boolean stream,
        Long promptTokens,
        Long completionTokens,
        Long totalTokens,
        Long cachedTokens,
        Long reasoningTokens,
        String usageSource,
        String clientAddress,
        String apiKeyId,
        String user,
        String tenant,
        String proxyHost,
        String upstream,
        Double audioSeconds,
        Boolean completionTokensReported,
        Boolean retrieval,
        String responseStatus,
        Boolean background) {

    /** The schema version this class writes. */
    public static final int SCHEMA_VERSION = 1;

    /** Longest {@code user} value carried; longer values are cut. */
    public static final int MAX_USER_LENGTH = 128;

    /**
     * The largest value any count of a valid event holds: each token field and {@code audio_seconds}. A request's
     * tokens cannot outnumber its model's context window, and the longest served today are about 10^7 tokens; this is
     * a hundred times that. It also keeps every sum of counts far from overflowing: a 64-bit total passes
     * {@link Long#MAX_VALUE} only after more than 9 &times; 10^9 events each at this bound. The proxy publishes a
     * usage above it, or negative, fractional or not a number, as {@link UsageSource#INVALID} with no counts; a reader
     * must not add a count outside {@code [0, MAX_USAGE]}, whoever wrote it.
     */
    public static final long MAX_USAGE = 1_000_000_000L;

    /** Prompt tokens, 0 when not reported. */
    @JsonIgnore
    public long promptTokensOrZero() {
        return promptTokens == null ? 0 : promptTokens;
    }

    /** Completion tokens, 0 when not reported. */
    @JsonIgnore
    public long completionTokensOrZero() {
        return completionTokens == null ? 0 : completionTokens;
    }

    /** Total tokens; when vLLM did not report a total, prompt plus completion. */
    @JsonIgnore
    public long totalTokensOrSum() {
        return totalTokens != null ? totalTokens : promptTokensOrZero() + completionTokensOrZero();
    }

    /** Cached prompt tokens, 0 when not reported. */
    @JsonIgnore
    public long cachedTokensOrZero() {
        return cachedTokens == null ? 0 : cachedTokens;
    }

    /** A builder holding this event's values, to derive a changed copy. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** A builder with {@link #SCHEMA_VERSION} and {@link UsageSource#NONE} set. */
    public static Builder builder() {
        return new Builder();
    }

    /** Assembles a {@link UsageEvent} field by field; the proxy fills it in as the exchange progresses. */
    public static final class Builder {
        private String eventId;
        private int schemaVersion = SCHEMA_VERSION;
        private String requestId;
        private String responseId;
        private String traceId;
        private String spanId;
        private Long startedAt;
        private Long firstByteAt;
        private Long endedAt;
        private String method;
        private String route;
        private int status;
        private String outcome;
        private String model;
        private String responseModel;
        private boolean stream;
        private Long promptTokens;
        private Long completionTokens;
        private Long totalTokens;
        private Long cachedTokens;
        private Long reasoningTokens;
        private String usageSource = UsageSource.NONE;
        private String clientAddress;
        private String apiKeyId;
        private String user;
        private String tenant;
        private String proxyHost;
        private String upstream;
        private Double audioSeconds;
        private Boolean completionTokensReported;
        private Boolean retrieval;
        private String responseStatus;
        private Boolean background;

        private Builder() {
        }

        private Builder(UsageEvent e) {
            eventId = e.eventId;
            schemaVersion = e.schemaVersion;
            requestId = e.requestId;
            responseId = e.responseId;
            traceId = e.traceId;
            spanId = e.spanId;
            startedAt = e.startedAt;
            firstByteAt = e.firstByteAt;
            endedAt = e.endedAt;
            method = e.method;
            route = e.route;
            status = e.status;
            outcome = e.outcome;
            model = e.model;
            responseModel = e.responseModel;
            stream = e.stream;
            promptTokens = e.promptTokens;
            completionTokens = e.completionTokens;
            totalTokens = e.totalTokens;
            cachedTokens = e.cachedTokens;
            reasoningTokens = e.reasoningTokens;
            usageSource = e.usageSource;
            clientAddress = e.clientAddress;
            apiKeyId = e.apiKeyId;
            user = e.user;
            tenant = e.tenant;
            proxyHost = e.proxyHost;
            upstream = e.upstream;
            audioSeconds = e.audioSeconds;
            completionTokensReported = e.completionTokensReported;
            retrieval = e.retrieval;
            responseStatus = e.responseStatus;
            background = e.background;
        }

        public Builder eventId(String v) { eventId = v; return this; }
        public Builder schemaVersion(int v) { schemaVersion = v; return this; }
        public Builder requestId(String v) { requestId = v; return this; }
        public Builder responseId(String v) { responseId = v; return this; }
        public Builder traceId(String v) { traceId = v; return this; }
        public Builder spanId(String v) { spanId = v; return this; }
        public Builder startedAt(Long v) { startedAt = v; return this; }
        public Builder firstByteAt(Long v) { firstByteAt = v; return this; }
        public Builder endedAt(Long v) { endedAt = v; return this; }
        public Builder method(String v) { method = v; return this; }
        public Builder route(String v) { route = v; return this; }
        public Builder status(int v) { status = v; return this; }
        public Builder outcome(String v) { outcome = v; return this; }
        public Builder model(String v) { model = v; return this; }
        public Builder responseModel(String v) { responseModel = v; return this; }
        public Builder stream(boolean v) { stream = v; return this; }
        public Builder promptTokens(Long v) { promptTokens = v; return this; }
        public Builder completionTokens(Long v) { completionTokens = v; return this; }
        public Builder totalTokens(Long v) { totalTokens = v; return this; }
        public Builder cachedTokens(Long v) { cachedTokens = v; return this; }
        public Builder reasoningTokens(Long v) { reasoningTokens = v; return this; }
        public Builder usageSource(String v) { usageSource = v; return this; }
        public Builder clientAddress(String v) { clientAddress = v; return this; }
        public Builder apiKeyId(String v) { apiKeyId = v; return this; }
        public Builder tenant(String v) { tenant = v; return this; }
        public Builder proxyHost(String v) { proxyHost = v; return this; }
        public Builder upstream(String v) { upstream = v; return this; }
        public Builder audioSeconds(Double v) { audioSeconds = v; return this; }
        public Builder completionTokensReported(Boolean v) { completionTokensReported = v; return this; }
        public Builder retrieval(Boolean v) { retrieval = v; return this; }
        public Builder responseStatus(String v) { responseStatus = v; return this; }
        public Builder background(Boolean v) { background = v; return this; }

        /** Sets {@code user}, cut to {@value UsageEvent#MAX_USER_LENGTH} characters. */
        public Builder user(String v) {
            user = v == null || v.length() <= MAX_USER_LENGTH ? v : v.substring(0, MAX_USER_LENGTH);
            return this;
        }

        public UsageEvent build() {
            return new UsageEvent(eventId, schemaVersion, requestId, responseId, traceId, spanId, startedAt,
                    firstByteAt, endedAt, method, route, status, outcome, model, responseModel, stream, promptTokens,
                    completionTokens, totalTokens, cachedTokens, reasoningTokens, usageSource, clientAddress,
                    apiKeyId, user, tenant, proxyHost, upstream, audioSeconds, completionTokensReported, retrieval,
                    responseStatus, background);
        }
    }
}
