package dev.tokentap.proxy.http;

import dev.tokentap.proxy.ProxyMetrics;
import dev.tokentap.proxy.publish.UsagePublisher;
import dev.tokentap.proxy.usage.ApiKeyHasher;
import dev.tokentap.proxy.usage.JsonResponseTap;
import dev.tokentap.proxy.usage.MultipartModelReader;
import dev.tokentap.proxy.usage.RequestBodyRewriter;
import dev.tokentap.proxy.usage.SseResponseTap;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.ee10.proxy.AsyncMiddleManServlet.ContentTransformer;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.proxy.ProxyHandler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data path on Jetty's core {@link ProxyHandler}, without the servlet layer: the same tap
 * ({@link RequestBodyRewriter}, {@link SseResponseTap}, {@link JsonResponseTap}, {@link MultipartModelReader}), the
 * same held bodies ({@link HeldBody} in a {@link RequestMemoryBudget}), the same {@link Exchange} and the same one
 * event per metered exchange handed to the {@link UsagePublisher}. A prototype measured beside
 * {@link MeteringProxyServlet} (see docs/benchmarks.md); the servlet stays the default.
 */
public final class MeteringProxyHandler extends ProxyHandler {

    private static final Logger LOG = LoggerFactory.getLogger(MeteringProxyHandler.class);
    private static final String EXCHANGE = Exchange.class.getName();

    private final Upstream upstream;
    private final ClientLimits limits;
    private final String upstreamBase;
    private final MeteredExchanges exchanges;
    private final ProxyMetrics metrics;

    public MeteringProxyHandler(Upstream upstream, ClientLimits limits, Metering metering, ApiKeyHasher apiKeys,
                                UsagePublisher publisher, ProxyMetrics metrics) {
        this.upstream = upstream;
        this.limits = limits;
        this.upstreamBase = upstream.base();
        this.exchanges = new MeteredExchanges(upstream, limits, metering, apiKeys, publisher, metrics);
        this.metrics = metrics;
        setViaHost(metering.proxyHost());
    }

    @Override
    protected HttpClient newHttpClient() {
        ClientConnector connector = new ClientConnector();
        // the server's pool serves the upstream client too, as the servlet path does
        connector.setExecutor(getServer().getThreadPool());
        connector.setConnectTimeout(upstream.connectTimeout());
        HttpClient client = new HttpClient(new HttpClientTransportOverHTTP(connector));
        exchanges.configure(client);
        client.setIdleTimeout(MeteredExchanges.POOLED_CONNECTION_IDLE_MS);
        client.setMaxConnectionsPerDestination(MeteredExchanges.MAX_CONNECTIONS_PER_UPSTREAM);
        return client;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        HttpFields headers = request.getHeaders();
        Exchange exchange = exchanges.newExchange(request.getMethod(), request.getHttpURI().getPath(), headers::get,
                Request.getRemoteAddr(request), () -> headers.getValuesList(HttpHeader.X_FORWARDED_FOR));
        exchange.holdsBody(MeteredExchanges.holdsBody(headers.get(HttpHeader.CONTENT_TYPE)));
        request.setAttribute(EXCHANGE, exchange);
        long declaredLength = request.getLength();
        if (declaredLength > limits.maxRequestBytes()) {
            refuse(exchange, response, callback, Refusal.TOO_LARGE);
            return true;
        }
        if (!exchange.holdsBody() || !hasBody(request)) {
            Request forwarded = exchange.form() == null ? request
                    : new FormRequest(request, MeteredExchanges.requestTransformer(exchange));
            super.handle(forwarded, response, callback);
            return true;
        }
        RequestMemoryBudget.Share share = exchanges.bodyBudget().share();
        exchange.bodyMemory(share);
        if (declaredLength > 0 && !share.reserve(declaredLength + HeldBody.REWRITE_ROOM)
                && HttpHeaderValue.CONTINUE.is(request.getHeaders().get(HttpHeader.EXPECT))) {
            refuse(exchange, response, callback, Refusal.OVER_BUDGET);
            return true;
        }
        new BodyHolder(request, response, callback, exchange,
                new HeldBody(MeteredExchanges.requestTransformer(exchange), declaredLength, share)).run();
        return true;
    }

    private static boolean hasBody(Request request) {
        return request.getLength() > 0 || request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING);
    }

    /** Reads the whole body through the held body, then forwards it in one piece. */
    private final class BodyHolder implements Runnable {
        private final Request request;
        private final Response response;
        private final Callback callback;
        private final Exchange exchange;
        private final HeldBody held;
        private final List<ByteBuffer> whole = new ArrayList<>();
        private long read;

        BodyHolder(Request request, Response response, Callback callback, Exchange exchange, HeldBody held) {
            this.request = request;
            this.response = response;
            this.callback = callback;
            this.exchange = exchange;
            this.held = held;
        }

        @Override
        public void run() {
            while (true) {
                Content.Chunk chunk = request.read();
                if (chunk == null) {
                    request.demand(this);
                    return;
                }
                if (Content.Chunk.isFailure(chunk)) {
                    failed(chunk.getFailure());
                    return;
                }
                boolean last = chunk.isLast();
                try {
                    read += chunk.remaining();
                    if (read > limits.maxRequestBytes()) {
                        throw new BodyLimitedRequest.TooLarge(limits.maxRequestBytes());
                    }
                    held.transform(chunk.getByteBuffer(), last, whole);
                } catch (IOException | RuntimeException e) {
                    failed(e);
                    return;
                } finally {
                    chunk.release();
                }
                if (last) {
                    MeteringProxyHandler.super.handle(new HeldRequest(request, whole), response, callback);
                    return;
                }
            }
        }

        private void failed(Throwable failure) {
            Refusal refusal = Refusal.of(failure);
            if (refusal == null && failure instanceof EofException && stillConnected(request)) {
                // Jetty's parser reports a body it cannot parse (a bad chunk size) as the same early EOF as a
                // client that hung up; only a client that hung up has closed its side
                refusal = Refusal.MALFORMED;
            }
            if (refusal == null && Refusal.isOwnFailure(failure)) {
                refusal = Refusal.FAILED;
            }
            if (refusal == null) {
                exchange.clientAborted();
                finish(exchange, Exchange.CLIENT_CLOSED_REQUEST, failure);
                callback.failed(failure);
                return;
            }
            refuse(exchange, response, callback, refusal);
        }
    }

    private static boolean stillConnected(Request request) {
        try {
            EndPoint endPoint = request.getConnectionMetaData().getConnection().getEndPoint();
            return endPoint.isOpen() && !endPoint.isInputShutdown();
        } catch (RuntimeException e) {
            return false;
        }
    }

    private void refuse(Exchange exchange, Response response, Callback callback, Refusal refusal) {
        exchanges.rejected(exchange, refusal);
        writeError(response, callback, refusal.status, refusal.body());
        finish(exchange, refusal.status, null);
    }

    private static void writeError(Response response, Callback callback, int status, byte[] body) {
        response.setStatus(status);
        HttpFields.Mutable headers = response.getHeaders();
        headers.put(HttpHeader.CONTENT_TYPE, "application/json");
        headers.put(HttpHeader.CONTENT_LENGTH, body.length);
        headers.put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE.asString());
        if (status == HttpStatus.SERVICE_UNAVAILABLE_503) {
            headers.put(HttpHeader.RETRY_AFTER, "1");
        }
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    private static Exchange exchange(Request request) {
        return (Exchange) request.getAttribute(EXCHANGE);
    }

    @Override
    protected HttpURI rewriteHttpURI(Request request) {
        Exchange exchange = exchange(request);
        String query = request.getHttpURI().getQuery();
        return HttpURI.from(upstreamBase + exchange.forwardPath + (query == null ? "" : "?" + query));
    }

    @Override
    protected org.eclipse.jetty.client.Request newProxyToServerRequest(Request request, HttpURI target) {
        org.eclipse.jetty.client.Request proxyRequest = super.newProxyToServerRequest(request, target)
                .idleTimeout(upstream.timeout().toMillis(), TimeUnit.MILLISECONDS);
        Exchange exchange = exchange(request);
        proxyRequest.onRequestCommit(r -> exchange.sentUpstream())
                .onRequestSuccess(r -> exchange.releaseBodyMemory())
                .onRequestFailure((r, failure) -> exchange.releaseBodyMemory());
        return proxyRequest;
    }

    @Override
    protected void copyRequestHeaders(Request request, org.eclipse.jetty.client.Request proxyRequest) {
        super.copyRequestHeaders(request, proxyRequest);
        Exchange exchange = exchange(request);
        proxyRequest.headers(headers -> {
            MeteredExchanges.adjustForwardedHeaders(exchange, headers);
            if (exchange.holdsBody()) {
                // the held body's length is counted by the client
                headers.remove(HttpHeader.CONTENT_LENGTH);
            }
        });
    }

    @Override
    protected void addProxyHeaders(Request request, org.eclipse.jetty.client.Request proxyRequest) {
        addViaHeader(request, proxyRequest);
        String remote = Request.getRemoteAddr(request);
        HttpFields clientHeaders = request.getHeaders();
        String host = clientHeaders.get(HttpHeader.HOST);
        String scheme = request.getHttpURI().getScheme();
        proxyRequest.headers(headers -> MeteredExchanges.addForwardingHeaders(headers, remote, scheme, host,
                Request.getLocalPort(request)));
    }

    @Override
    protected org.eclipse.jetty.client.Response.CompleteListener newServerToProxyResponseListener(
            Request request, org.eclipse.jetty.client.Request proxyRequest, Response response, Callback callback) {
        Exchange exchange = exchange(request);
        if (!exchange.metered()) {
            return super.newServerToProxyResponseListener(request, proxyRequest, response, callback);
        }
        return new TappedResponseListener(request, proxyRequest, response, callback, exchange);
    }

    @Override
    protected void onServerToProxyResponseFailure(Request request, org.eclipse.jetty.client.Request proxyRequest,
                                                  org.eclipse.jetty.client.Response serverResponse,
                                                  Response response, Callback callback, Throwable failure) {
        Exchange exchange = exchange(request);
        LOG.debug("proxying failed route={} upstreamStatus={}", exchange.route, exchange.upstreamStatus(), failure);
        if (response.isCommitted()) {
            finish(exchange, response.getStatus(), failure);
            callback.failed(failure);
            return;
        }
        int status = Exchange.isTimeout(failure) ? HttpStatus.GATEWAY_TIMEOUT_504 : HttpStatus.BAD_GATEWAY_502;
        response.reset();
        exchange.errorStatusSent(status);
        writeError(response, callback, status, OpenAiError.forStatus(status));
        finish(exchange, status, failure);
    }

    @Override
    protected void onProxyToClientResponseComplete(Request request, org.eclipse.jetty.client.Request proxyRequest,
                                                   org.eclipse.jetty.client.Response serverResponse,
                                                   Response response, Callback callback) {
        finish(exchange(request), response.getStatus(), null);
        super.onProxyToClientResponseComplete(request, proxyRequest, serverResponse, response, callback);
    }

    @Override
    protected void onProxyToClientResponseFailure(Request request, org.eclipse.jetty.client.Request proxyRequest,
                                                  org.eclipse.jetty.client.Response serverResponse,
                                                  Response response, Callback callback, Throwable failure) {
        Exchange exchange = exchange(request);
        exchange.clientAborted();
        finish(exchange, response.isCommitted() ? response.getStatus() : Exchange.CLIENT_CLOSED_REQUEST, failure);
        super.onProxyToClientResponseFailure(request, proxyRequest, serverResponse, response, callback, failure);
    }

    private void finish(Exchange exchange, int status, Throwable failure) {
        exchanges.finish(exchange, status, failure);
    }

    /** The upstream's answer through the tap: each read transformed and written on before the next is asked for. */
    private final class TappedResponseListener extends ProxyResponseListener {
        private final Response response;
        private final Exchange exchange;
        private final List<ByteBuffer> out = new ArrayList<>();
        /** What the tap gave once it knew the usage, written when the event is in the spool. */
        private final List<ByteBuffer> held = new ArrayList<>();
        private boolean holding;
        private ContentTransformer tap = ContentTransformer.IDENTITY;
        private boolean identity = true;
        /** An event stream's headers are being written ahead of its first event; the response takes one write at a time. */
        private boolean flushingHeaders;
        /** What arrived from the upstream while they were. */
        private Runnable deferred;

        TappedResponseListener(Request request, org.eclipse.jetty.client.Request proxyRequest, Response response,
                               Callback callback, Exchange exchange) {
            super(request, proxyRequest, response, callback);
            this.response = response;
            this.exchange = exchange;
        }

        @Override
        public void onBegin(org.eclipse.jetty.client.Response serverResponse) {
            exchange.upstreamStatus(serverResponse.getStatus());
            metrics.upstreamLatency(exchange.route, System.nanoTime() - exchange.startedNanos);
            super.onBegin(serverResponse);
        }

        @Override
        public void onHeaders(org.eclipse.jetty.client.Response serverResponse) {
            HttpFields headers = serverResponse.getHeaders();
            tap = exchanges.responseTap(exchange, headers);
            identity = tap == ContentTransformer.IDENTITY;
            String contentType = MeteredExchanges.mediaType(headers.get(HttpHeader.CONTENT_TYPE));
            super.onHeaders(serverResponse);
            if (!exchange.lengthPreserved()) {
                // the body changes length: the client gets it chunked
                response.getHeaders().remove(HttpHeader.CONTENT_LENGTH);
            }
            if ("text/event-stream".equals(contentType)) {
                // an event stream's headers go out now, not with the first event: a client waiting for the first
                // token already knows its request was accepted
                synchronized (this) {
                    flushingHeaders = true;
                }
                response.write(false, BufferUtil.EMPTY_BUFFER, Callback.from(this::headersFlushed,
                        failure -> {
                            exchange.clientAborted();
                            headersFlushed();
                            serverResponse.abort(failure);
                        }));
            }
        }

        private void headersFlushed() {
            Runnable next;
            synchronized (this) {
                flushingHeaders = false;
                next = deferred;
                deferred = null;
            }
            if (next != null) {
                next.run();
            }
        }

        /** Whether {@code action} must wait for the headers; if so it runs once they are out. */
        private synchronized boolean deferred(Runnable action) {
            if (!flushingHeaders) {
                return false;
            }
            deferred = action;
            return true;
        }

        @Override
        public void onContent(org.eclipse.jetty.client.Response serverResponse, Content.Chunk chunk,
                              Runnable demander) {
            if (chunk.hasRemaining()) {
                exchange.firstByte(System.currentTimeMillis());
            }
            if (identity) {
                super.onContent(serverResponse, chunk, demander);
                return;
            }
            chunk.retain();
            if (deferred(() -> {
                tapContent(serverResponse, chunk, demander);
                chunk.release();
            })) {
                return;
            }
            tapContent(serverResponse, chunk, demander);
            chunk.release();
        }

        private void tapContent(org.eclipse.jetty.client.Response serverResponse, Content.Chunk chunk,
                                Runnable demander) {
            try {
                tap.transform(chunk.getByteBuffer(), false, out);
            } catch (IOException | RuntimeException e) {
                out.clear();
                serverResponse.abort(e);
                return;
            }
            if (out.isEmpty()) {
                demander.run();
                return;
            }
            if (holding || exchange.facts.finalUsageSeen()) {
                // the tap knows the usage: what is left of the answer, this piece included, reaches the client once
                // the event is in the spool's file, as on the servlet path (see ResponseEnd)
                holding = true;
                for (ByteBuffer piece : out) {
                    held.add(BufferUtil.copy(piece));
                }
                out.clear();
                demander.run();
                return;
            }
            chunk.retain();
            List<ByteBuffer> pieces = out.size() == 1 ? List.of(out.get(0)) : List.copyOf(out);
            out.clear();
            write(pieces, 0, Callback.from(() -> {
                chunk.release();
                demander.run();
            }, failure -> {
                chunk.release();
                // writing to the client failed: the client went away
                exchange.clientAborted();
                serverResponse.abort(failure);
            }));
        }

        @Override
        public void onSuccess(org.eclipse.jetty.client.Response serverResponse) {
            if (identity) {
                super.onSuccess(serverResponse);
                return;
            }
            if (!deferred(() -> tapEnd(serverResponse))) {
                tapEnd(serverResponse);
            }
        }

        private void tapEnd(org.eclipse.jetty.client.Response serverResponse) {
            try {
                tap.transform(BufferUtil.EMPTY_BUFFER, true, out);
            } catch (IOException | RuntimeException e) {
                LOG.debug("the tap failed at the end of the answer", e);
            }
            List<ByteBuffer> pieces = new ArrayList<>(held);
            pieces.addAll(out);
            held.clear();
            out.clear();
            finish(exchange, exchange.isClientAborted() && !response.isCommitted()
                    ? Exchange.CLIENT_CLOSED_REQUEST : response.getStatus(), null);
            exchange.end.afterRelease(() ->
                    write(pieces, 0, Callback.from(() -> super.onSuccess(serverResponse), this::failed)));
        }

        private void write(List<ByteBuffer> pieces, int index, Callback done) {
            if (index == pieces.size()) {
                done.succeeded();
                return;
            }
            ByteBuffer piece = pieces.get(index);
            if (index == pieces.size() - 1) {
                response.write(false, piece, done);
            } else {
                response.write(false, piece, Callback.from(() -> write(pieces, index + 1, done), done::failed));
            }
        }
    }

    /** The client's request with its held, rewritten body in place of the one already read. */
    private static final class HeldRequest extends Request.Wrapper {
        private final List<ByteBuffer> body;
        private final long length;
        private final HttpFields headers;
        private int next;

        HeldRequest(Request request, List<ByteBuffer> body) {
            super(request);
            this.body = body;
            this.length = body.stream().mapToLong(ByteBuffer::remaining).sum();
            // no Expect (the body is here already) and no stale Content-Length (the rewriter may have added bytes)
            HttpFields.Mutable copy = HttpFields.build(request.getHeaders());
            copy.remove(HttpHeader.EXPECT);
            copy.remove(HttpHeader.TRANSFER_ENCODING);
            copy.put(HttpHeader.CONTENT_LENGTH, length);
            this.headers = copy.asImmutable();
        }

        @Override
        public HttpFields getHeaders() {
            return headers;
        }

        @Override
        public long getLength() {
            return length;
        }

        @Override
        public Content.Chunk read() {
            if (next >= body.size()) {
                return Content.Chunk.EOF;
            }
            ByteBuffer piece = body.get(next++);
            return Content.Chunk.from(piece, next == body.size());
        }

        @Override
        public void demand(Runnable demandCallback) {
            demandCallback.run();
        }

        @Override
        public boolean rewind() {
            return false;
        }
    }

    /**
     * A streamed (multipart) body through the form reader as it comes, which may add a field to it: the body goes
     * upstream chunked, as the servlet path sends it.
     */
    private static final class FormRequest extends Request.Wrapper {
        private final ContentTransformer reader;
        private final List<ByteBuffer> out = new ArrayList<>();
        private final HttpFields headers;

        FormRequest(Request request, ContentTransformer reader) {
            super(request);
            this.reader = reader;
            HttpFields.Mutable copy = HttpFields.build(request.getHeaders());
            // ProxyHandler forwards a body only with a length or a Transfer-Encoding; it does not copy the latter
            // (a hop header), and Jetty's client frames a body of unknown length chunked
            copy.remove(HttpHeader.CONTENT_LENGTH);
            copy.put(HttpHeader.TRANSFER_ENCODING, "chunked");
            this.headers = copy.asImmutable();
        }

        @Override
        public HttpFields getHeaders() {
            return headers;
        }

        @Override
        public long getLength() {
            return -1;
        }

        @Override
        public Content.Chunk read() {
            while (true) {
                Content.Chunk chunk = super.read();
                if (chunk == null || Content.Chunk.isFailure(chunk)) {
                    return chunk;
                }
                boolean last = chunk.isLast();
                ByteBuffer passed;
                try {
                    reader.transform(chunk.getByteBuffer(), last, out);
                    passed = joined(out);
                } catch (IOException | RuntimeException e) {
                    LOG.debug("the form reader failed", e);
                    return Content.Chunk.from(e, true);
                } finally {
                    out.clear();
                    chunk.release();
                }
                if (passed.hasRemaining() || last) {
                    return Content.Chunk.from(passed, last);
                }
            }
        }

        /** One buffer of its own for what the reader gave: the chunk it came from goes back to its pool. */
        private static ByteBuffer joined(List<ByteBuffer> pieces) {
            int length = 0;
            for (ByteBuffer piece : pieces) {
                length += piece.remaining();
            }
            ByteBuffer joined = ByteBuffer.allocate(length);
            for (ByteBuffer piece : pieces) {
                joined.put(piece);
            }
            return joined.flip();
        }
    }
}
