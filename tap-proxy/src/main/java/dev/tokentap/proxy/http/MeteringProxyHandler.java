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
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
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
import org.eclipse.jetty.util.IteratingCallback;
import org.eclipse.jetty.util.thread.Invocable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data path, on Jetty's core {@link ProxyHandler} (no servlet layer): every method and path is forwarded to the
 * upstream, with the usage tap on the metered routes ({@link RequestBodyRewriter} or {@link MultipartModelReader} on
 * the request, {@link SseResponseTap} or {@link JsonResponseTap} on the answer). A request's body is held until
 * whole ({@link HeldBody} in a {@link RequestMemoryBudget}), each upstream chunk is written to the client as it
 * arrives, and when a metered exchange ends, however it ends, one usage event is handed to the
 * {@link UsagePublisher}; nothing Kafka-related happens on the request path. A response's end waits until the
 * publisher has the event for good (see {@link ResponseEnd}), so that a client never sees a completed response whose
 * usage a killed proxy could lose.
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
            // a streamed body (a multipart upload) goes through the form reader, if any, and is cut once it passes
            // the limit when its length was not declared
            Request forwarded = exchange.form() == null && (declaredLength >= 0 || !hasBody(request)) ? request
                    : new StreamedRequest(request, MeteredExchanges.requestTransformer(exchange),
                            declaredLength >= 0 ? Long.MAX_VALUE : limits.maxRequestBytes());
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
                        throw new BodyTooLarge(limits.maxRequestBytes());
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
        if (!response.isCommitted() && causedBy(failure, BodyTooLarge.class)) {
            // a streamed upload passed the limit part-way: the upstream had part of it, the client gets 413
            response.reset();
            refuse(exchange, response, callback, Refusal.TOO_LARGE);
            return;
        }
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

    private static boolean causedBy(Throwable failure, Class<? extends Throwable> type) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (type.isInstance(t)) {
                return true;
            }
        }
        return false;
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

    /**
     * The upstream's answer through the tap: each read transformed and its pieces written on before the next read is
     * asked for. Every write to the client, the event stream's early headers and the response's completion included,
     * goes through one queue ({@link ClientWriter}), in order, which is the writer of the exchange's
     * {@link ResponseEnd}: from the moment the tap knows the usage (a stream's final usage, a body's last bytes, the
     * end of the answer) what is left is held there until the event is in the spool's file, as on every path.
     */
    private final class TappedResponseListener extends ProxyResponseListener {
        private final Response response;
        private final Exchange exchange;
        private final ResponseEnd end;
        private final ClientWriter writer;
        private final List<ByteBuffer> out = new ArrayList<>();
        private ContentTransformer tap = ContentTransformer.IDENTITY;
        private boolean identity = true;
        /** The upstream's Content-Length, or -1: its last bytes are known as they arrive, not only at its end. */
        private long contentLength = -1;
        private long received;
        /** The tap has been told the answer is complete, and the exchange finished. */
        private boolean tapFinished;

        TappedResponseListener(Request request, org.eclipse.jetty.client.Request proxyRequest, Response response,
                               Callback callback, Exchange exchange) {
            super(request, proxyRequest, response, callback);
            this.response = response;
            this.exchange = exchange;
            this.end = exchange.end;
            this.writer = new ClientWriter(response, exchange);
            end.attach(writer);
        }

        @Override
        public void onBegin(org.eclipse.jetty.client.Response serverResponse) {
            exchange.upstreamStatus(serverResponse.getStatus());
            metrics.upstreamLatency(exchange.route, System.nanoTime() - exchange.startedNanos);
            writer.upstream(serverResponse);
            super.onBegin(serverResponse);
        }

        @Override
        public void onHeaders(org.eclipse.jetty.client.Response serverResponse) {
            HttpFields headers = serverResponse.getHeaders();
            tap = exchanges.responseTap(exchange, headers);
            identity = tap == ContentTransformer.IDENTITY;
            contentLength = headers.getLongField(HttpHeader.CONTENT_LENGTH);
            String contentType = MeteredExchanges.mediaType(headers.get(HttpHeader.CONTENT_TYPE));
            super.onHeaders(serverResponse);
            if (!exchange.lengthPreserved()) {
                // the body changes length: the client gets it chunked
                response.getHeaders().remove(HttpHeader.CONTENT_LENGTH);
            }
            if ("text/event-stream".equals(contentType)) {
                // an event stream's headers go out now, not with the first event: a client waiting for the first
                // token already knows its request was accepted
                writer.pass(BufferUtil.EMPTY_BUFFER, Callback.NOOP);
                writer.resume();
            }
        }

        @Override
        public void onContent(org.eclipse.jetty.client.Response serverResponse, Content.Chunk chunk,
                              Runnable demander) {
            if (chunk.hasRemaining()) {
                exchange.firstByte(System.currentTimeMillis());
            }
            received += chunk.remaining();
            // a body's last bytes, known by its length: the tap is told now, so that they are held with the rest
            boolean last = !tapFinished && contentLength >= 0 && received >= contentLength;
            if (identity) {
                out.add(chunk.getByteBuffer());
            } else {
                try {
                    tap.transform(chunk.getByteBuffer(), last, out);
                } catch (IOException | RuntimeException e) {
                    out.clear();
                    serverResponse.abort(e);
                    return;
                }
            }
            if (last || exchange.facts.finalUsageSeen()) {
                // the tap knows the usage: what is left of the answer, these pieces included, reaches the client
                // once the event is in the spool's file
                end.hold();
            }
            if (last) {
                finishTap();
            }
            if (out.isEmpty()) {
                demander.run();
                return;
            }
            if (out.size() > 1) {
                // what one read became goes out as one write: the tap cuts a running usage out of every event, and
                // each piece written apart would be a chunk and a system call of its own
                ByteBuffer joined = joined(out);
                out.clear();
                writer.pass(joined, Callback.from(Invocable.InvocationType.NON_BLOCKING, demander));
                writer.resume();
                return;
            }
            // the piece may be a slice of the chunk: it stays ours until it is written
            chunk.retain();
            Callback written = Callback.from(Invocable.InvocationType.NON_BLOCKING, () -> {
                chunk.release();
                demander.run();
            }, failure -> chunk.release());
            writer.pass(out.get(0), written);
            out.clear();
            writer.resume();
        }

        /** The exchange's event goes to the publisher; from now on the end waits for it. */
        private void finishTap() {
            tapFinished = true;
            finish(exchange, exchange.isClientAborted() && !response.isCommitted()
                    ? Exchange.CLIENT_CLOSED_REQUEST : response.getStatus(), null);
        }

        @Override
        public void onSuccess(org.eclipse.jetty.client.Response serverResponse) {
            if (!tapFinished) {
                if (!identity) {
                    try {
                        tap.transform(BufferUtil.EMPTY_BUFFER, true, out);
                    } catch (IOException | RuntimeException e) {
                        LOG.debug("the tap failed at the end of the answer", e);
                        out.clear();
                    }
                }
                // the end of a chunked body, or of a response without one, waits too
                end.hold();
                if (!out.isEmpty()) {
                    writer.pass(out.size() == 1 ? out.get(0) : joined(out), Callback.NOOP);
                }
                out.clear();
                writer.resume();
                finishTap();
            }
            // completing the response sends its end (a chunked body's last chunk): once what was held is written
            end.afterRelease(() -> {
                writer.passLast(this);
                writer.resume();
            });
        }
    }

    /**
     * The pieces, in order, copied into one buffer of its own (the pieces are left as they were): one write for what
     * one read became, and nothing kept of a chunk that goes back to its pool.
     */
    private static ByteBuffer joined(List<ByteBuffer> pieces) {
        int length = 0;
        for (ByteBuffer piece : pieces) {
            length += piece.remaining();
        }
        ByteBuffer joined = ByteBuffer.allocate(length);
        for (ByteBuffer piece : pieces) {
            joined.put(piece.duplicate());
        }
        return joined.flip();
    }

    /**
     * Writes the client's response one piece at a time, in the order given, each piece as the exchange's
     * {@link ResponseEnd} says (held, or with what was held before it). A failed write is the client gone: the
     * upstream answer is aborted, and every piece still queued fails.
     */
    private static final class ClientWriter extends IteratingCallback implements ResponseEnd.Writer {
        private final Response response;
        private final Exchange exchange;
        private final ArrayDeque<Piece> queue = new ArrayDeque<>();
        /** The piece being written; only the iterating thread touches it. */
        private Piece current;
        private volatile org.eclipse.jetty.client.Response upstream;
        private Throwable failure;

        private record Piece(ByteBuffer content, boolean last, Callback callback) {
        }

        ClientWriter(Response response, Exchange exchange) {
            this.response = response;
            this.exchange = exchange;
        }

        void upstream(org.eclipse.jetty.client.Response serverResponse) {
            upstream = serverResponse;
        }

        @Override
        public void pass(ByteBuffer content, Callback callback) {
            offer(new Piece(content, false, callback));
        }

        /** Queues the response's completion behind everything else; {@code callback} hears when it is done. */
        void passLast(Callback callback) {
            offer(new Piece(BufferUtil.EMPTY_BUFFER, true, callback));
        }

        private void offer(Piece piece) {
            Throwable failed;
            synchronized (queue) {
                failed = failure;
                if (failed == null) {
                    queue.add(piece);
                }
            }
            if (failed != null) {
                piece.callback.failed(failed);
            }
        }

        @Override
        public void resume() {
            iterate();
        }

        @Override
        protected Action process() {
            Piece piece;
            synchronized (queue) {
                piece = queue.poll();
            }
            if (piece == null) {
                return Action.IDLE;
            }
            current = piece;
            ByteBuffer content = exchange.end.write(piece.content);
            if (content == null && !piece.last) {
                // held: copied aside, written when the end is released
                succeeded();
                return Action.SCHEDULED;
            }
            response.write(piece.last, content == null ? BufferUtil.EMPTY_BUFFER : content, this);
            return Action.SCHEDULED;
        }

        @Override
        protected void onSuccess() {
            Piece done = current;
            current = null;
            done.callback.succeeded();
        }

        @Override
        protected void onCompleteFailure(Throwable cause) {
            List<Piece> failed = new ArrayList<>();
            synchronized (queue) {
                failure = cause;
                failed.addAll(queue);
                queue.clear();
            }
            if (current != null) {
                failed.add(0, current);
                current = null;
            }
            // writing to the client failed: the client went away
            exchange.clientAborted();
            exchange.end.writerFailed();
            org.eclipse.jetty.client.Response serverResponse = upstream;
            if (serverResponse != null) {
                serverResponse.abort(cause);
            }
            for (Piece piece : failed) {
                piece.callback.failed(cause);
            }
        }

        @Override
        public InvocationType getInvocationType() {
            // what runs on a written piece only asks the upstream for more, queues writes or completes the response
            return InvocationType.NON_BLOCKING;
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
     * A streamed (multipart) body through the form reader as it comes, which may add a field to it, failing with
     * {@link BodyTooLarge} once more than {@code limit} bytes came: the body goes upstream chunked.
     */
    private static final class StreamedRequest extends Request.Wrapper {
        private final ContentTransformer reader;
        private final long limit;
        private final List<ByteBuffer> out = new ArrayList<>();
        private final HttpFields headers;
        private long read;

        StreamedRequest(Request request, ContentTransformer reader, long limit) {
            super(request);
            this.reader = reader;
            this.limit = limit;
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
                read += chunk.remaining();
                if (read > limit) {
                    chunk.release();
                    return Content.Chunk.from(new BodyTooLarge(limit), true);
                }
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
    }
}
