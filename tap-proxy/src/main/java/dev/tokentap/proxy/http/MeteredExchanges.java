package dev.tokentap.proxy.http;

import com.fasterxml.uuid.Generators;
import com.fasterxml.uuid.impl.TimeBasedEpochGenerator;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.proxy.ProxyMetrics;
import dev.tokentap.proxy.publish.UsagePublisher;
import dev.tokentap.proxy.usage.ApiKeyHasher;
import dev.tokentap.proxy.usage.ChunkUsageSplice;
import dev.tokentap.proxy.usage.JsonResponseTap;
import dev.tokentap.proxy.usage.MeteredRoutes;
import dev.tokentap.proxy.usage.MultipartModelReader;
import dev.tokentap.proxy.usage.RequestBodyRewriter;
import dev.tokentap.proxy.usage.SseResponseTap;
import dev.tokentap.proxy.usage.StreamStrip;
import dev.tokentap.proxy.usage.TraceContext;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.function.Supplier;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.ArrayByteBufferPool;

/**
 * What the data path ({@link MeteringProxyHandler}) does to a metered exchange apart from moving its bytes: building
 * the {@link Exchange} (its request rewriter or form reader), the headers sent upstream, the upstream client's
 * settings, choosing the tap of the answer, and finishing the exchange with its one usage event.
 */
final class MeteredExchanges {

    static final String REQUEST_ID = "X-Request-Id";
    /** Pooled upstream connections close after this much idleness: before uvicorn's 5 s keep-alive does. */
    static final long POOLED_CONNECTION_IDLE_MS = 4_000;
    static final int MAX_CONNECTIONS_PER_UPSTREAM = 2_048;
    /** Room for X-Forwarded-*, Via and a generated X-Request-Id on top of the largest head a client may send. */
    private static final int FORWARDING_HEADROOM = 4_096;
    /** The client's buffer pool: Jetty's own sizes for a client's (2 KiB steps up to 64 KiB), buckets unbounded. */
    private static final int CLIENT_BUFFER_FACTOR = 2_048;
    private static final int CLIENT_BUFFER_MAX = 65_536;
    private static final TimeBasedEpochGenerator UUID_V7 = Generators.timeBasedEpochGenerator();

    private final Upstream upstream;
    private final ClientLimits limits;
    private final Metering metering;
    private final String upstreamAuthority;
    private final ApiKeyHasher apiKeys;
    private final UsagePublisher publisher;
    private final ProxyMetrics metrics;
    /** What to add to a streaming request without {@code stream_options}. */
    private final String injection;
    /** The memory every held request body takes from. */
    private final RequestMemoryBudget bodyBudget;

    MeteredExchanges(Upstream upstream, ClientLimits limits, Metering metering, ApiKeyHasher apiKeys,
                     UsagePublisher publisher, ProxyMetrics metrics) {
        this.upstream = upstream;
        this.limits = limits;
        this.metering = metering;
        this.upstreamAuthority = upstream.authority();
        this.apiKeys = apiKeys;
        this.publisher = publisher;
        this.metrics = metrics;
        this.injection = metering.continuousUsage() ? RequestBodyRewriter.INJECTED_STREAM_OPTIONS
                : RequestBodyRewriter.INJECTED_INCLUDE_USAGE;
        this.bodyBudget = new RequestMemoryBudget(limits.requestMemoryBudget());
        metrics.requestMemory(bodyBudget::held, bodyBudget.capacity());
    }

    RequestMemoryBudget bodyBudget() {
        return bodyBudget;
    }


    /** The upstream client's settings. */
    void configure(HttpClient client) {
        client.setConnectTimeout(upstream.connectTimeout().toMillis());
        // forward the client's User-Agent, or none, never Jetty's own
        client.setUserAgentField(null);
        // a head the proxy accepted must fit upstream with the forwarding headers the proxy adds; the client's
        // own cap (8 KiB) would fail it with a 502 before anything was sent
        client.setMaxRequestHeadersSize(limits.maxHeaderBytes() + FORWARDING_HEADROOM);
        // Jetty sizes the client's pool by threads (half the pool's maximum buffers of each size, 8 with 16
        // threads); a proxy holds a network buffer per upstream response in flight, hundreds under streams, so
        // every buffer past the eighth was dropped and a new direct one allocated for the next read, until the
        // direct memory cap forced a System.gc(), a full collection that stalled every stream
        client.setByteBufferPool(new ArrayByteBufferPool(0, CLIENT_BUFFER_FACTOR, CLIENT_BUFFER_MAX, -1));
    }

    /**
     * Whether the body is held until complete before the upstream is asked: every body but a multipart upload.
     * JSON bodies are small, and holding them means vLLM never sees a request that turns out over the limit, and
     * a client trickling its body ties up the proxy, not vLLM. Audio uploads (multipart) can be tens of MiB: they
     * stream, and only their declared length is checked before anything is sent.
     */
    static boolean holdsBody(String contentType) {
        return contentType == null || !contentType.strip().toLowerCase(Locale.ROOT).startsWith("multipart/");
    }

    /**
     * The exchange of a request, with what reads or rewrites its body.
     *
     * @param path          the request's path as the client sent it
     * @param header        the client's header of a name, or null
     * @param remoteAddress the peer's address as the server reports it
     * @param forwardedFor  the client's X-Forwarded-For values, asked for only behind trusted proxies
     */
    Exchange newExchange(String method, String path, Function<String, String> header, String remoteAddress,
                         Supplier<List<String>> forwardedFor) {
        long now = System.currentTimeMillis();
        long nanos = System.nanoTime();
        String forwardPath = MeteredRoutes.forwardPath(path);
        String route = MeteredRoutes.meteredRoute(method, MeteredRoutes.normalise(forwardPath));
        String requestId = header.apply(REQUEST_ID);
        if (route == null) {
            return new Exchange(null, now, nanos, method, null, forwardPath, requestId, false, null, null, null,
                    null, null);
        }
        // an unknown route is only observed: its request goes upstream as the client sent it
        // one time-ordered UUID per request: the event's id, and the request id when the client sent none
        String eventId = UUID_V7.generate().toString();
        boolean generated = !MeteredRoutes.OTHER.equals(route) && (requestId == null || requestId.isBlank());
        if (generated) {
            requestId = eventId;
        }
        String encoding = header.apply(HttpHeader.CONTENT_ENCODING.asString());
        boolean readable = encoding == null || encoding.isBlank() || "identity".equalsIgnoreCase(encoding.strip());
        Exchange exchange = new Exchange(eventId, now, nanos, method, route, forwardPath,
                requestId, generated, TraceContext.parse(header.apply("traceparent")),
                clientAddress(remoteAddress, forwardedFor),
                apiKeys.idForAuthorization(header.apply(HttpHeader.AUTHORIZATION.asString())),
                tenant(remoteAddress, header),
                readable && MeteredRoutes.readsJsonBody(route) ? RequestBodyRewriter.forRoute(route, injection)
                        : null);
        if (readable && MeteredRoutes.readsMultipartBody(route)) {
            exchange.form(MultipartModelReader.forContentType(header.apply(HttpHeader.CONTENT_TYPE.asString()),
                    metering.continuousUsage()));
        }
        return exchange;
    }

    /**
     * The tenant header, believed only from a peer in {@code --trusted-proxies}: the gateway that authenticated the
     * caller sets it. From any other peer it is ignored, or any client could have any tenant billed.
     */
    private String tenant(String remoteAddress, Function<String, String> header) {
        if (metering.tenantHeader() == null || !metering.trustedProxies().trusts(remoteAddress)) {
            return null;
        }
        return header.apply(metering.tenantHeader());
    }

    private String clientAddress(String remoteAddress, Supplier<List<String>> forwardedFor) {
        String address = remoteAddress;
        if (address != null && address.length() > 2 && address.charAt(0) == '[') {
            address = address.substring(1, address.length() - 1);
        }
        TrustedProxies trusted = metering.trustedProxies();
        if (trusted.isEmpty()) {
            return address;
        }
        return trusted.clientAddress(address, forwardedFor.get());
    }

    /** What the proxy changes in the client's headers on their way upstream. */
    static void adjustForwardedHeaders(Exchange exchange, HttpFields.Mutable headers) {
        if (exchange.requestIdGenerated) {
            // vLLM makes it the engine request id; the event carries the same one
            headers.put(REQUEST_ID, exchange.requestId);
        }
        if (exchange.holdsBody()) {
            // the whole body goes at once; the upstream has nothing to agree to beforehand
            headers.remove(HttpHeader.EXPECT);
        }
        if (exchange.metered()) {
            // the tap must read the usage: ask for an uncompressed body (vLLM does not compress anyway)
            headers.remove(HttpHeader.ACCEPT_ENCODING);
        }
    }

    /** X-Forwarded-For gets the peer appended; the other X-Forwarded-* are set when the client sent none. */
    static void addForwardingHeaders(HttpFields.Mutable headers, String remote, String scheme, String host,
                                     int port) {
        String forwardedFor = headers.get(HttpHeader.X_FORWARDED_FOR);
        headers.put(HttpHeader.X_FORWARDED_FOR, forwardedFor == null ? remote : forwardedFor + ", " + remote);
        if (!headers.contains(HttpHeader.X_FORWARDED_PROTO)) {
            headers.put(HttpHeader.X_FORWARDED_PROTO, scheme == null ? "http" : scheme);
        }
        if (host != null && !headers.contains(HttpHeader.X_FORWARDED_HOST)) {
            headers.put(HttpHeader.X_FORWARDED_HOST, host);
        }
        if (!headers.contains(HttpHeader.X_FORWARDED_PORT)) {
            headers.put(HttpHeader.X_FORWARDED_PORT, Integer.toString(port));
        }
    }

    /** What reads (a form) or rewrites (a JSON body) the request body on its way upstream. */
    static ContentTransformer requestTransformer(Exchange exchange) {
        if (exchange != null && exchange.form() != null) {
            return exchange.form()::transform;
        }
        if (exchange == null || exchange.body == null) {
            return ContentTransformer.IDENTITY;
        }
        return exchange.body::transform;
    }

    /**
     * The tap of the upstream's answer by its headers: an event stream's, with what the proxy injected stripped
     * back out; a JSON body's; none for anything compressed or of another type.
     */
    ContentTransformer responseTap(Exchange exchange, HttpFields upstreamHeaders) {
        String encoding = upstreamHeaders.get(HttpHeader.CONTENT_ENCODING);
        if (encoding != null && !encoding.isBlank() && !"identity".equalsIgnoreCase(encoding.strip())) {
            return ContentTransformer.IDENTITY;
        }
        String contentType = mediaType(upstreamHeaders.get(HttpHeader.CONTENT_TYPE));
        if ("text/event-stream".equals(contentType)) {
            if (exchange.body != null && exchange.body.injected()) {
                exchange.lengthChanged();
                StreamStrip strip = StreamStrip.of(exchange.body.policy(), exchange.body.clientStreamOptions(),
                        metering.vllmGeneration(), metering.forceIncludeUsage());
                return new SseResponseTap(exchange.facts, strip)::transform;
            }
            if (exchange.injectedUsage()) {
                // a streaming audio form the proxy added stream_include_usage to: the usage-only chunk is its doing,
                // and with stream_continuous_usage_stats each chunk's usage too
                exchange.lengthChanged();
                return new SseResponseTap(exchange.facts, StreamStrip.fixed(true, exchange.injectedContinuousUsage()
                        ? ChunkUsageSplice.Mode.REMOVE : ChunkUsageSplice.Mode.KEEP))::transform;
            }
            return new SseResponseTap(exchange.facts, null)::transform;
        }
        if ("application/json".equals(contentType)) {
            return new JsonResponseTap(exchange.facts)::transform;
        }
        return ContentTransformer.IDENTITY;
    }

    static String mediaType(String contentType) {
        if (contentType == null) {
            return null;
        }
        int semicolon = contentType.indexOf(';');
        return (semicolon < 0 ? contentType : contentType.substring(0, semicolon)).strip().toLowerCase(Locale.ROOT);
    }

    /** Counts a refusal once per exchange, however many times the paths report it. */
    void rejected(Exchange exchange, Refusal refusal) {
        if (!exchange.isRejected()) {
            metrics.refusal(refusal.reason);
        }
        exchange.rejected(refusal);
    }

    /**
     * Builds the exchange's event, once, and hands it to the publisher; the end of the response is released when
     * the publisher has it for good (see {@link ResponseEnd}), at once when there is no event.
     */
    void finish(Exchange exchange, int status, Throwable failure) {
        exchange.releaseBodyMemory();
        if (!exchange.finish()) {
            return;
        }
        String outcome = exchange.outcome(failure);
        metrics.request(exchange.route, outcome);
        if (!exchange.publishable()) {
            exchange.end.release();
            return;
        }
        UsageEvent event = exchange.toEvent(status, outcome, System.currentTimeMillis(), metering.proxyHost(),
                upstreamAuthority);
        if (Outcome.OK.equals(outcome) && UsageSource.NONE.equals(event.usageSource())
                && !MeteredRoutes.OTHER.equals(exchange.route)) {
            metrics.usageMissing(exchange.route);
        } else if (UsageSource.INVALID.equals(event.usageSource())) {
            metrics.usageInvalid(exchange.route);
        }
        // released on the thread that completes the hand-over, the spool's writer as a rule: the release queues
        // a non-blocking write, and a hop to Jetty's pool cost more (docs/benchmarks.md)
        publisher.publish(event).whenComplete((written, never) -> exchange.end.release());
    }
}
