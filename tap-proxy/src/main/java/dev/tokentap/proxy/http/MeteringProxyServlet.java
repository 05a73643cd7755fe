package dev.tokentap.proxy.http;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.proxy.ProxyMetrics;
import dev.tokentap.proxy.publish.UsagePublisher;
import dev.tokentap.proxy.usage.ApiKeyHasher;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Collections;
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
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data path: Jetty's asynchronous middle-man proxy servlet, forwarding every method and path to the upstream,
 * with the usage tap on the two metered routes. Each upstream chunk is written and flushed to the client as it
 * arrives. When a metered exchange ends, however it ends, one {@link UsageEvent} is handed to the
 * {@link UsagePublisher}; nothing Kafka-related happens on the request path. A response's last bytes wait until
 * the publisher has the event for good (in the spool's file), so that a client never sees a completed response
 * whose usage a killed proxy could lose.
 */
public final class MeteringProxyServlet extends AsyncMiddleManServlet {

    private static final Logger LOG = LoggerFactory.getLogger(MeteringProxyServlet.class);
    private static final String EXCHANGE = Exchange.class.getName();
    /** The response end of the exchange whose writer is writing on this thread. */
    private static final ThreadLocal<ResponseEnd> WRITING = new ThreadLocal<>();

    private final Upstream upstream;
    private final ClientLimits limits;
    private final Metering metering;
    private final String upstreamBase;
    private final MeteredExchanges exchanges;
    private final ProxyMetrics metrics;

    public MeteringProxyServlet(Upstream upstream, ClientLimits limits, Metering metering, ApiKeyHasher apiKeys,
                                UsagePublisher publisher, ProxyMetrics metrics) {
        this.upstream = upstream;
        this.limits = limits;
        this.metering = metering;
        this.upstreamBase = upstream.base();
        this.exchanges = new MeteredExchanges(upstream, limits, metering, apiKeys, publisher, metrics);
        this.metrics = metrics;
    }

    /** The servlet wrapped for mounting, with the init parameters {@link AsyncMiddleManServlet} reads. */
    public ServletHolder holder() {
        ServletHolder holder = new ServletHolder("tap-proxy", this);
        holder.setInitParameters(Map.of(
                // the upstream's silence is bounded per request by --upstream-timeout; no total deadline, since
                // a generation may legitimately stream for a long time
                "timeout", "0",
                "idleTimeout", Long.toString(MeteredExchanges.POOLED_CONNECTION_IDLE_MS),
                "maxConnections", Integer.toString(MeteredExchanges.MAX_CONNECTIONS_PER_UPSTREAM),
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
        exchanges.configure(client);
        return client;
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response)
            throws ServletException, IOException {
        Exchange exchange = exchanges.newExchange(request.getMethod(), request.getRequestURI(), request::getHeader,
                request.getRemoteAddr(),
                () -> Collections.list(request.getHeaders(HttpHeader.X_FORWARDED_FOR.asString())));
        exchange.holdsBody(MeteredExchanges.holdsBody(request.getContentType()));
        request.setAttribute(EXCHANGE, exchange);
        long declaredLength = request.getContentLengthLong();
        if (declaredLength > limits.maxRequestBytes()) {
            // refused before anything is read or forwarded; the connection closes, so the body need not be read
            refuse(exchange, response, Refusal.TOO_LARGE);
            return;
        }
        if (exchange.holdsBody() && declaredLength > 0) {
            RequestMemoryBudget.Share share = exchanges.bodyBudget().share();
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
        exchanges.rejected(exchange, refusal);
    }

    /** A 503 the proxy makes itself passes soon: a second is as long as a held body usually takes to go. */
    private static void retryAfter(HttpServletResponse response, int status) {
        if (status == HttpStatus.SERVICE_UNAVAILABLE_503) {
            response.setHeader(HttpHeader.RETRY_AFTER.asString(), "1");
        }
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
        proxyRequest.headers(headers -> MeteredExchanges.adjustForwardedHeaders(exchange, headers));
    }

    @Override
    protected void addProxyHeaders(HttpServletRequest clientRequest, Request proxyRequest) {
        super.addProxyHeaders(clientRequest, proxyRequest);
        String remote = clientRequest.getRemoteAddr();
        String host = clientRequest.getHeader(HttpHeader.HOST.asString());
        proxyRequest.headers(headers -> MeteredExchanges.addForwardingHeaders(headers, remote,
                clientRequest.getScheme(), host, clientRequest.getServerPort()));
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
        ContentTransformer transformer = MeteredExchanges.requestTransformer(exchange);
        if (exchange == null || !exchange.holdsBody()) {
            return transformer;
        }
        RequestMemoryBudget.Share share = exchange.bodyMemory();
        if (share == null) {
            share = exchanges.bodyBudget().share();
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
        if ("text/event-stream".equals(MeteredExchanges.mediaType(serverResponse.getHeaders().get(HttpHeader.CONTENT_TYPE)))) {
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
        ContentTransformer tap = exchanges.responseTap(exchange, serverResponse.getHeaders());
        return (input, finished, output) -> {
            if (input.hasRemaining()) {
                exchange.firstByte(System.currentTimeMillis());
            }
            tap.transform(input, finished, output);
            if (finished || exchange.facts.finalUsageSeen()) {
                // the tap knows the usage: what is left of the response, this piece included, reaches the client
                // once the event is in the spool's file (a stream's [DONE] or response.completed, a body's last
                // bytes, the end of a chunked body)
                exchange.end.hold();
            }
            if (finished) {
                finish(exchange, exchange.isClientAborted() && !proxyResponse.isCommitted()
                        ? Exchange.CLIENT_CLOSED_REQUEST : proxyResponse.getStatus(), null);
            }
        };
    }

    @Override
    protected ProxyWriter newProxyWriteListener(HttpServletRequest clientRequest, Response proxyResponse) {
        return new MeteringWriter(clientRequest, proxyResponse);
    }

    @Override
    protected void writeProxyResponseContent(ServletOutputStream output, ByteBuffer content) throws IOException {
        ResponseEnd end = WRITING.get();
        if (end != null) {
            // the end of a response waits for its usage event (see ResponseEnd)
            content = end.write(content);
            if (content == null) {
                return;
            }
        }
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
        Exchange exchange = exchange(clientRequest);
        if (exchange == null) {
            super.onProxyResponseSuccess(clientRequest, proxyResponse, serverResponse);
            return;
        }
        // a response with a body was finished by its last piece (see newServerResponseContentTransformer); one
        // without is finished here, and completes, which sends its end, once its event is in the spool
        finish(exchange, proxyResponse.getStatus(), null);
        exchange.end.afterRelease(() -> {
            exchange.end.complete();
            super.onProxyResponseSuccess(clientRequest, proxyResponse, serverResponse);
        });
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
        exchanges.finish(exchange, status, failure);
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

    /**
     * Notices when writing to the client fails, i.e. the client went away, keeps Content-Length, and holds the end of
     * the response back while its {@link ResponseEnd} says so.
     */
    private final class MeteringWriter extends ProxyWriter implements ResponseEnd.Writer {
        private final HttpServletRequest clientRequest;
        private final Response serverResponse;
        private final Exchange exchange;
        private boolean first = true;
        /** Jetty has called onWritePossible: the output is non-blocking, and iterating writes. */
        private volatile boolean listening;

        MeteringWriter(HttpServletRequest clientRequest, Response serverResponse) {
            super(clientRequest, serverResponse);
            this.clientRequest = clientRequest;
            this.serverResponse = serverResponse;
            this.exchange = exchange(clientRequest);
            if (exchange != null) {
                exchange.end.attach(this);
            }
        }

        @Override
        public void pass(ByteBuffer content, Callback callback) {
            offer(content, callback);
        }

        @Override
        public void resume() {
            // before the first onWritePossible the output is not yet set up for non-blocking writes; that first
            // call writes what was passed
            if (listening) {
                iterate();
            }
        }

        @Override
        public void onWritePossible() {
            listening = true;
            super.onWritePossible();
        }

        @Override
        protected Action process() throws Throwable {
            if (first) {
                first = false;
                restoreContentLength();
            }
            if (exchange == null || !exchange.metered()) {
                return super.process();
            }
            if (exchange.end.completed()) {
                // the response is complete, and its request may serve the next one: nothing more to write
                return Action.IDLE;
            }
            // writeProxyResponseContent, called from super.process() on this thread, asks it what to write
            WRITING.set(exchange.end);
            try {
                return super.process();
            } finally {
                WRITING.remove();
            }
        }

        /**
         * AsyncMiddleManServlet drops the upstream's Content-Length because a transformer may change the body;
         * where the tap only reads, the length still holds, so the client gets it back.
         */
        private void restoreContentLength() {
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
            // this writer's own exchange, never the request's attribute: Jetty's writer may still run once after the
            // response completed, when the request object may already serve the connection's next request
            if (exchange != null && !exchange.end.completed()) {
                exchange.clientAborted();
                exchange.end.writerFailed();
            }
            super.onCompleteFailure(failure);
        }
    }
}
