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
import dev.tokentap.proxy.usage.TraceContext;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.AsyncRequestContent;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.ee10.proxy.AsyncMiddleManServlet;
import org.eclipse.jetty.ee10.servlet.HttpOutput;
import org.eclipse.jetty.ee10.servlet.ServletContextRequest;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.io.ArrayByteBufferPool;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.EofException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data path: Jetty's asynchronous middle-man proxy servlet, forwarding every method and path to the upstream,
 * with the usage tap on the two metered routes. Each upstream chunk is written and flushed to the client as it
 * arrives. When a metered exchange ends, however it ends, one {@link UsageEvent} is handed to the
 * {@link UsagePublisher}; nothing Kafka-related happens on the request path.
 */
public final class MeteringProxyServlet extends AsyncMiddleManServlet {

    private static final Logger LOG = LoggerFactory.getLogger(MeteringProxyServlet.class);
    private static final String EXCHANGE = Exchange.class.getName();
    private static final String REQUEST_ID = "X-Request-Id";
    /** Pooled upstream connections close after this much idleness: before uvicorn's 5 s keep-alive does. */
    private static final long POOLED_CONNECTION_IDLE_MS = 4_000;
    private static final int MAX_CONNECTIONS_PER_UPSTREAM = 2_048;
    /** Room for X-Forwarded-*, Via and a generated X-Request-Id on top of the largest head a client may send. */
    private static final int FORWARDING_HEADROOM = 4_096;
    /** The client's buffer pool: Jetty's own sizes for a client's (2 KiB steps up to 64 KiB), buckets unbounded. */
    private static final int CLIENT_BUFFER_FACTOR = 2_048;
    private static final int CLIENT_BUFFER_MAX = 65_536;
    private static final TimeBasedEpochGenerator UUID_V7 = Generators.timeBasedEpochGenerator();

    private final Upstream upstream;
    private final ClientLimits limits;
    private final Metering metering;
    private final String upstreamBase;
    private final String upstreamAuthority;
    private final ApiKeyHasher apiKeys;
    private final UsagePublisher publisher;
    private final ProxyMetrics metrics;
    /** What to add to a streaming request without {@code stream_options}. */
    private final String injection;
    /** The memory every held request body takes from. */
    private final RequestMemoryBudget bodyBudget;

    public MeteringProxyServlet(Upstream upstream, ClientLimits limits, Metering metering, ApiKeyHasher apiKeys,
                                UsagePublisher publisher, ProxyMetrics metrics) {
        this.upstream = upstream;
        this.limits = limits;
        this.metering = metering;
        this.upstreamBase = upstream.base();
        this.upstreamAuthority = upstream.authority();
        this.apiKeys = apiKeys;
        this.publisher = publisher;
        this.metrics = metrics;
        this.injection = metering.continuousUsage() ? RequestBodyRewriter.INJECTED_STREAM_OPTIONS
                : RequestBodyRewriter.INJECTED_INCLUDE_USAGE;
        this.bodyBudget = new RequestMemoryBudget(limits.requestMemoryBudget());
        metrics.requestMemory(bodyBudget::held, bodyBudget.capacity());
    }

    /** The servlet wrapped for mounting, with the init parameters {@link AsyncMiddleManServlet} reads. */
    public ServletHolder holder() {
        ServletHolder holder = new ServletHolder("tap-proxy", this);
        holder.setInitParameters(Map.of(
                // the upstream's silence is bounded per request by --upstream-timeout; no total deadline, since
                // a generation may legitimately stream for a long time
                "timeout", "0",
                "idleTimeout", Long.toString(POOLED_CONNECTION_IDLE_MS),
                "maxConnections", Integer.toString(MAX_CONNECTIONS_PER_UPSTREAM),
                "viaHost", metering.proxyHost()));
        holder.setAsyncSupported(true);
        return holder;
    }

    @Override
    protected Logger createLogger() {
        // Jetty's proxy logs whole request headers, Authorization included, at DEBUG: keep that logger in Jetty's
        // namespace, so turning on DEBUG for dev.tokentap can never print a bearer token
        return LoggerFactory.getLogger(AsyncMiddleManServlet.class);
    }

    @Override
    protected HttpClient newHttpClient(ClientConnector clientConnector) {
        // one client for every request: pooled connections, the upstream resolved when a connection opens
        clientConnector.setConnectTimeout(upstream.connectTimeout());
        HttpClient client = super.newHttpClient(clientConnector);
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
        return client;
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response)
            throws ServletException, IOException {
        Exchange exchange = newExchange(request);
        exchange.holdsBody(holdsBody(request));
        request.setAttribute(EXCHANGE, exchange);
        long declaredLength = request.getContentLengthLong();
        if (declaredLength > limits.maxRequestBytes()) {
            // refused before anything is read or forwarded; the connection closes, so the body need not be read
            refuse(exchange, response, Refusal.TOO_LARGE);
            return;
        }
        if (exchange.holdsBody() && declaredLength > 0) {
            RequestMemoryBudget.Share share = bodyBudget.share();
            exchange.bodyMemory(share);
            if (!share.reserve(declaredLength + HeldBody.REWRITE_ROOM)
                    && HttpHeaderValue.CONTINUE.is(request.getHeader(HttpHeader.EXPECT.asString()))) {
                // the client waits for a go-ahead before it sends its body: it can have the answer now
                refuse(exchange, response, Refusal.OVER_BUDGET);
                return;
            }
            // otherwise the body is read and dropped, then answered 503 (see HeldBody): a client still sending
            // it would get a reset connection rather than the answer
        }
        try {
            super.service(declaredLength < 0 ? new BodyLimitedRequest(request, limits.maxRequestBytes()) : request,
                    response);
        } catch (IOException | ServletException | RuntimeException e) {
            LOG.debug("proxying failed before the upstream was called", e);
            finish(exchange, HttpStatus.INTERNAL_SERVER_ERROR_500, e);
            throw e;
        }
    }

    /**
     * Whether the body is held until complete before the upstream is asked: every body but a multipart upload.
     * JSON bodies are small, and holding them means vLLM never sees a request that turns out over the limit, and
     * a client trickling its body ties up the proxy, not vLLM. Audio uploads (multipart) can be tens of MiB: they
     * stream, and only their declared length is checked before anything is sent.
     */
    private static boolean holdsBody(HttpServletRequest request) {
        String contentType = request.getContentType();
        return contentType == null || !contentType.strip().toLowerCase(Locale.ROOT).startsWith("multipart/");
    }

    private void refuse(Exchange exchange, HttpServletResponse response, Refusal refusal) throws IOException {
        rejected(exchange, refusal);
        byte[] body = refusal.body();
        response.setStatus(refusal.status);
        response.setContentType("application/json");
        response.setContentLength(body.length);
        response.setHeader(HttpHeader.CONNECTION.asString(), "close");
        retryAfter(response, refusal.status);
        response.getOutputStream().write(body);
        response.flushBuffer();
        finish(exchange, refusal.status, null);
    }

    private void rejected(Exchange exchange, Refusal refusal) {
        if (!exchange.isRejected()) {
            metrics.refusal(refusal.reason);
        }
        exchange.rejected(refusal);
    }

    /** A 503 the proxy makes itself passes soon: a second is as long as a held body usually takes to go. */
    private static void retryAfter(HttpServletResponse response, int status) {
        if (status == HttpStatus.SERVICE_UNAVAILABLE_503) {
            response.setHeader(HttpHeader.RETRY_AFTER.asString(), "1");
        }
    }

    private Exchange newExchange(HttpServletRequest request) {
        long now = System.currentTimeMillis();
        long nanos = System.nanoTime();
        String method = request.getMethod();
        String forwardPath = MeteredRoutes.forwardPath(request.getRequestURI());
        String route = MeteredRoutes.meteredRoute(method, MeteredRoutes.normalise(forwardPath));
        String requestId = request.getHeader(REQUEST_ID);
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
        String encoding = request.getHeader(HttpHeader.CONTENT_ENCODING.asString());
        boolean readable = encoding == null || encoding.isBlank() || "identity".equalsIgnoreCase(encoding.strip());
        Exchange exchange = new Exchange(eventId, now, nanos, method, route, forwardPath,
                requestId, generated, TraceContext.parse(request.getHeader("traceparent")), clientAddress(request),
                apiKeys.idForAuthorization(request.getHeader(HttpHeader.AUTHORIZATION.asString())), tenant(request),
                readable && MeteredRoutes.readsJsonBody(route)
                        ? new RequestBodyRewriter(MeteredRoutes.takesStreamOptions(route) ? injection : null)
                        : null);
        if (readable && MeteredRoutes.readsMultipartBody(route)) {
            exchange.form(MultipartModelReader.forContentType(request.getContentType()));
        }
        return exchange;
    }

    /**
     * The tenant header, believed only from a peer in {@code --trusted-proxies}: the gateway that authenticated the
     * caller sets it. From any other peer it is ignored, or any client could have any tenant billed.
     */
    private String tenant(HttpServletRequest request) {
        if (metering.tenantHeader() == null || !metering.trustedProxies().trusts(request.getRemoteAddr())) {
            return null;
        }
        return request.getHeader(metering.tenantHeader());
    }

    private String clientAddress(HttpServletRequest request) {
        String address = request.getRemoteAddr();
        if (address != null && address.length() > 2 && address.charAt(0) == '[') {
            address = address.substring(1, address.length() - 1);
        }
        TrustedProxies trusted = metering.trustedProxies();
        if (trusted.isEmpty()) {
            return address;
        }
        return trusted.clientAddress(address,
                Collections.list(request.getHeaders(HttpHeader.X_FORWARDED_FOR.asString())));
    }

    private static Exchange exchange(HttpServletRequest request) {
        return (Exchange) request.getAttribute(EXCHANGE);
    }

    @Override
    protected String rewriteTarget(HttpServletRequest clientRequest) {
        Exchange exchange = exchange(clientRequest);
        if (exchange == null || exchange.forwardPath == null) {
            return null;
        }
        String query = clientRequest.getQueryString();
        return upstreamBase + exchange.forwardPath + (query == null ? "" : "?" + query);
    }

    @Override
    protected void onProxyRewriteFailed(HttpServletRequest clientRequest, HttpServletResponse proxyResponse) {
        sendProxyResponseError(clientRequest, proxyResponse, HttpStatus.BAD_REQUEST_400);
        Exchange exchange = exchange(clientRequest);
        if (exchange != null) {
            finish(exchange, HttpStatus.BAD_REQUEST_400, null);
        }
    }

    @Override
    protected Request newProxyRequest(HttpServletRequest request, String rewrittenTarget) {
        Request proxyRequest = super.newProxyRequest(request, rewrittenTarget)
                .idleTimeout(upstream.timeout().toMillis(), TimeUnit.MILLISECONDS);
        Exchange exchange = exchange(request);
        if (exchange != null) {
            // a held body's memory goes back as soon as the body has been written upstream, not when the
            // response, which may stream for minutes, ends
            proxyRequest.onRequestCommit(r -> exchange.sentUpstream())
                    .onRequestSuccess(r -> exchange.releaseBodyMemory())
                    .onRequestFailure((r, failure) -> exchange.releaseBodyMemory());
        }
        return proxyRequest;
    }

    @Override
    protected void copyRequestHeaders(HttpServletRequest clientRequest, Request proxyRequest) {
        super.copyRequestHeaders(clientRequest, proxyRequest);
        Exchange exchange = exchange(clientRequest);
        proxyRequest.headers(headers -> {
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
        });
    }

    @Override
    protected void addProxyHeaders(HttpServletRequest clientRequest, Request proxyRequest) {
        super.addProxyHeaders(clientRequest, proxyRequest);
        String remote = clientRequest.getRemoteAddr();
        String host = clientRequest.getHeader(HttpHeader.HOST.asString());
        proxyRequest.headers(headers -> {
            String forwardedFor = headers.get(HttpHeader.X_FORWARDED_FOR);
            headers.put(HttpHeader.X_FORWARDED_FOR, forwardedFor == null ? remote : forwardedFor + ", " + remote);
            if (!headers.contains(HttpHeader.X_FORWARDED_PROTO)) {
                headers.put(HttpHeader.X_FORWARDED_PROTO, clientRequest.getScheme());
            }
            if (host != null && !headers.contains(HttpHeader.X_FORWARDED_HOST)) {
                headers.put(HttpHeader.X_FORWARDED_HOST, host);
            }
            if (!headers.contains(HttpHeader.X_FORWARDED_PORT)) {
                headers.put(HttpHeader.X_FORWARDED_PORT, Integer.toString(clientRequest.getServerPort()));
            }
        });
    }

    @Override
    protected ReadListener newProxyReadListener(HttpServletRequest clientRequest, HttpServletResponse proxyResponse,
                                                Request proxyRequest, AsyncRequestContent content) {
        return new MeteringReader(clientRequest, proxyResponse, proxyRequest, content);
    }

    @Override
    protected ContentTransformer newClientRequestContentTransformer(HttpServletRequest clientRequest,
                                                                    Request proxyRequest) {
        // The body may change length, and AsyncMiddleManServlet drops the client's Content-Length for every
        // request it proxies: a multipart upload goes upstream chunked, which vLLM accepts. A held body is whole
        // and closed before the upstream request starts, so Jetty's client counts it and sends a Content-Length.
        Exchange exchange = exchange(clientRequest);
        ContentTransformer transformer;
        if (exchange != null && exchange.form() != null) {
            transformer = exchange.form()::transform;
        } else if (exchange == null || exchange.body == null) {
            transformer = ContentTransformer.IDENTITY;
        } else {
            transformer = exchange.body::transform;
        }
        if (exchange == null || !exchange.holdsBody()) {
            return transformer;
        }
        RequestMemoryBudget.Share share = exchange.bodyMemory();
        if (share == null) {
            share = bodyBudget.share();
            exchange.bodyMemory(share);
        }
        return new HeldBody(transformer, clientRequest.getContentLengthLong(), share);
    }

    @Override
    protected boolean expects100Continue(HttpServletRequest request) {
        // a held body is read in full before the upstream is asked anything, so the client gets its 100 Continue
        // from this server as soon as the proxy reads, not from the upstream
        Exchange exchange = exchange(request);
        return (exchange == null || !exchange.holdsBody()) && super.expects100Continue(request);
    }

    @Override
    protected void onServerResponseHeaders(HttpServletRequest clientRequest, HttpServletResponse proxyResponse,
                                           Response serverResponse) {
        Exchange exchange = exchange(clientRequest);
        if (exchange != null) {
            exchange.upstreamStatus(serverResponse.getStatus());
            metrics.upstreamLatency(exchange.route, System.nanoTime() - exchange.startedNanos);
        }
        super.onServerResponseHeaders(clientRequest, proxyResponse, serverResponse);
        if ("text/event-stream".equals(mediaType(serverResponse.getHeaders().get(HttpHeader.CONTENT_TYPE)))) {
            // an event stream's headers go out now, as the upstream sent them, not with the first event:
            // a client waiting for the first token already knows its request was accepted
            try {
                proxyResponse.flushBuffer();
            } catch (IOException e) {
                LOG.debug("could not send response headers to the client", e);
            }
        }
    }

    @Override
    protected ContentTransformer newServerResponseContentTransformer(HttpServletRequest clientRequest,
                                                                     HttpServletResponse proxyResponse,
                                                                     Response serverResponse) {
        Exchange exchange = exchange(clientRequest);
        if (exchange == null || !exchange.metered()) {
            return ContentTransformer.IDENTITY;
        }
        ContentTransformer tap = responseTap(exchange, serverResponse);
        return (input, finished, output) -> {
            if (input.hasRemaining()) {
                exchange.firstByte(System.currentTimeMillis());
            }
            tap.transform(input, finished, output);
        };
    }

    private static ContentTransformer responseTap(Exchange exchange, Response serverResponse) {
        String encoding = serverResponse.getHeaders().get(HttpHeader.CONTENT_ENCODING);
        if (encoding != null && !encoding.isBlank() && !"identity".equalsIgnoreCase(encoding.strip())) {
            return ContentTransformer.IDENTITY;
        }
        String contentType = mediaType(serverResponse.getHeaders().get(HttpHeader.CONTENT_TYPE));
        if ("text/event-stream".equals(contentType)) {
            boolean strip = exchange.body != null && exchange.body.injected();
            if (strip) {
                exchange.lengthChanged();
            }
            ChunkUsageSplice.Mode chunkUsage = !strip || !exchange.body.injectedContinuousUsage()
                    ? ChunkUsageSplice.Mode.KEEP
                    // vLLM writes completions chunks with every field, so without the request they say "usage":null
                    : MeteredRoutes.COMPLETIONS.equals(exchange.route) ? ChunkUsageSplice.Mode.NULL
                    : ChunkUsageSplice.Mode.REMOVE;
            return new SseResponseTap(exchange.facts, strip, chunkUsage)::transform;
        }
        if ("application/json".equals(contentType)) {
            return new JsonResponseTap(exchange.facts)::transform;
        }
        return ContentTransformer.IDENTITY;
    }

    private static String mediaType(String contentType) {
        if (contentType == null) {
            return null;
        }
        int semicolon = contentType.indexOf(';');
        return (semicolon < 0 ? contentType : contentType.substring(0, semicolon)).strip().toLowerCase(Locale.ROOT);
    }

    @Override
    protected ProxyWriter newProxyWriteListener(HttpServletRequest clientRequest, Response proxyResponse) {
        return new MeteringWriter(clientRequest, proxyResponse);
    }

    @Override
    protected void writeProxyResponseContent(ServletOutputStream output, ByteBuffer content) throws IOException {
        if (output instanceof HttpOutput httpOutput) {
            // write(ByteBuffer) bypasses the aggregation buffer that write(byte[]) fills: every upstream chunk
            // (an SSE event) leaves for the client now, not when 8 KiB have gathered
            httpOutput.write(content);
        } else {
            super.writeProxyResponseContent(output, content);
            output.flush();
        }
    }

    @Override
    protected void onClientRequestFailure(HttpServletRequest clientRequest, Request proxyRequest,
                                          HttpServletResponse proxyResponse, Throwable failure) {
        Exchange exchange = exchange(clientRequest);
        if (exchange != null && exchange.uploadFailedUpstream()) {
            // not the client's doing (see MeteringReader); the response listener answers it with 502 or 504
            proxyRequest.abort(failure);
            return;
        }
        // the proxy gave up on the body: a held body never reached the upstream, a streamed upload already under
        // way there is aborted; an I/O failure is the client going away
        Refusal refusal = refusalOf(failure, clientRequest);
        if (exchange != null && refusal != null) {
            rejected(exchange, refusal);
        } else if (exchange != null) {
            exchange.clientAborted();
        }
        // what Jetty's own onClientRequestFailure does, with the status of the refusal
        proxyResponse.setStatus(refusal != null ? refusal.status : clientRequestStatus(failure));
        proxyRequest.abort(failure);
    }

    private static Refusal refusalOf(Throwable failure, HttpServletRequest clientRequest) {
        Refusal refusal = Refusal.of(failure);
        if (refusal == null && failure instanceof EofException && clientStillConnected(clientRequest)) {
            // Jetty's parser reports a body it cannot parse (a bad chunk size) as the same early EOF as a client
            // that hung up, once the headers are in (HttpParser.badMessage); only a client that hung up has closed
            // its side of the connection
            return Refusal.MALFORMED;
        }
        return refusal == null && Refusal.isOwnFailure(failure) ? Refusal.FAILED : refusal;
    }

    private static boolean clientStillConnected(HttpServletRequest clientRequest) {
        try {
            EndPoint endPoint = ServletContextRequest.getServletContextRequest(clientRequest).getConnectionMetaData()
                    .getConnection().getEndPoint();
            return endPoint.isOpen() && !endPoint.isInputShutdown();
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    protected int clientRequestStatus(Throwable failure) {
        // too large, over the memory budget, too slow, or a failure of the proxy's own
        Refusal refusal = Refusal.of(failure);
        if (refusal == null && Refusal.isOwnFailure(failure)) {
            refusal = Refusal.FAILED;
        }
        return refusal != null ? refusal.status : super.clientRequestStatus(failure);
    }

    @Override
    protected int proxyResponseStatus(Throwable failure) {
        return Exchange.isTimeout(failure) ? HttpStatus.GATEWAY_TIMEOUT_504 : HttpStatus.BAD_GATEWAY_502;
    }

    @Override
    protected void onProxyResponseSuccess(HttpServletRequest clientRequest, HttpServletResponse proxyResponse,
                                          Response serverResponse) {
        // read before completing: the request and response may be recycled once complete() returns
        Exchange exchange = exchange(clientRequest);
        int status = proxyResponse.getStatus();
        super.onProxyResponseSuccess(clientRequest, proxyResponse, serverResponse);
        if (exchange != null) {
            finish(exchange, status, null);
        }
    }

    @Override
    protected void onProxyResponseFailure(HttpServletRequest clientRequest, HttpServletResponse proxyResponse,
                                          Response serverResponse, Throwable failure) {
        Exchange exchange = exchange(clientRequest);
        boolean committed = proxyResponse.isCommitted();
        int committedStatus = proxyResponse.getStatus();
        if (exchange != null) {
            LOG.debug("proxying failed route={} upstreamStatus={}", exchange.route, exchange.upstreamStatus(),
                    failure);
            if (!committed && !exchange.isRejected() && !exchange.isClientAborted() && !exchange.wasSentUpstream()
                    && Refusal.isOwnFailure(failure)) {
                // nothing reached the upstream and no I/O failed: the proxy's own failure, not a bad gateway
                rejected(exchange, Refusal.FAILED);
                proxyResponse.setStatus(Refusal.FAILED.status);
            }
        }
        super.onProxyResponseFailure(clientRequest, proxyResponse, serverResponse, failure);
        if (exchange != null) {
            int status;
            if (committed) {
                status = committedStatus;
            } else if (exchange.isClientAborted()) {
                status = Exchange.CLIENT_CLOSED_REQUEST;
            } else if (exchange.errorStatusSent() > 0) {
                status = exchange.errorStatusSent();
            } else {
                status = Exchange.CLIENT_CLOSED_REQUEST;
            }
            finish(exchange, status, failure);
        }
    }

    @Override
    protected void sendProxyResponseError(HttpServletRequest clientRequest, HttpServletResponse proxyResponse,
                                          int status) {
        Exchange exchange = exchange(clientRequest);
        if (proxyResponse.isCommitted()) {
            // headers are out: all that is left is to cut the connection, as Jetty does
            super.sendProxyResponseError(clientRequest, proxyResponse, status);
            return;
        }
        try {
            Refusal refusal = exchange == null ? null : exchange.refusal();
            byte[] body = refusal != null && refusal.status == status ? refusal.body() : OpenAiError.forStatus(status);
            proxyResponse.reset();
            proxyResponse.setStatus(status);
            proxyResponse.setContentType("application/json");
            proxyResponse.setContentLength(body.length);
            proxyResponse.setHeader(HttpHeader.CONNECTION.asString(), "close");
            retryAfter(proxyResponse, status);
            if (exchange != null) {
                exchange.errorStatusSent(status);
            }
            proxyResponse.getOutputStream().write(body);
            proxyResponse.flushBuffer();
        } catch (IOException | RuntimeException e) {
            LOG.debug("could not write the error response status={}", status, e);
        } finally {
            if (clientRequest.isAsyncStarted()) {
                clientRequest.getAsyncContext().complete();
            }
        }
    }

    private void finish(Exchange exchange, int status, Throwable failure) {
        exchange.releaseBodyMemory();
        if (!exchange.finish()) {
            return;
        }
        String outcome = exchange.outcome(failure);
        metrics.request(exchange.route, outcome);
        if (!exchange.publishable()) {
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
        publisher.publish(event);
    }

    /**
     * Tells apart the two failures Jetty's reader reports as a client failure: reading the client's body failed
     * (the client went away), or writing it upstream failed (the upstream did).
     */
    private final class MeteringReader extends ProxyReader {
        private final HttpServletRequest clientRequest;
        private Throwable readFailure;
        private boolean failedCallback;

        MeteringReader(HttpServletRequest clientRequest, HttpServletResponse proxyResponse, Request proxyRequest,
                       AsyncRequestContent content) {
            super(clientRequest, proxyResponse, proxyRequest, content);
            this.clientRequest = clientRequest;
        }

        @Override
        protected Action process() throws Exception {
            try {
                return super.process();
            } catch (Exception | Error e) {
                readFailure = e;
                throw e;
            }
        }

        @Override
        protected void onFailure(Throwable failure) {
            failedCallback = true;
            super.onFailure(failure);
        }

        @Override
        public void onError(Throwable failure) {
            // a failed write callback that process() did not throw: the upstream request failed
            if (failedCallback && failure != readFailure) {
                Exchange exchange = exchange(clientRequest);
                if (exchange != null) {
                    exchange.uploadFailedUpstream(true);
                }
            }
            super.onError(failure);
        }
    }

    /** Notices when writing to the client fails, i.e. the client went away, and keeps Content-Length. */
    private final class MeteringWriter extends ProxyWriter {
        private final HttpServletRequest clientRequest;
        private final Response serverResponse;
        private boolean first = true;

        MeteringWriter(HttpServletRequest clientRequest, Response serverResponse) {
            super(clientRequest, serverResponse);
            this.clientRequest = clientRequest;
            this.serverResponse = serverResponse;
        }

        @Override
        protected Action process() throws Throwable {
            if (first) {
                first = false;
                restoreContentLength();
            }
            return super.process();
        }

        /**
         * AsyncMiddleManServlet drops the upstream's Content-Length because a transformer may change the body;
         * where the tap only reads, the length still holds, so the client gets it back.
         */
        private void restoreContentLength() {
            Exchange exchange = exchange(clientRequest);
            long length = serverResponse.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH);
            if (exchange != null && exchange.lengthPreserved() && length >= 0) {
                HttpServletResponse response = (HttpServletResponse) clientRequest.getAsyncContext().getResponse();
                if (!response.isCommitted()) {
                    response.setContentLengthLong(length);
                }
            }
        }

        @Override
        protected void onCompleteFailure(Throwable failure) {
            Exchange exchange = exchange(clientRequest);
            if (exchange != null) {
                exchange.clientAborted();
            }
            super.onCompleteFailure(failure);
        }
    }
}
