package dev.tokentap.bench.netty;

import dev.tokentap.event.UsageEvent;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One client connection of the Netty path and the upstream connection it keeps: each request (whole, as tap-proxy
 * holds a JSON body) goes upstream rewritten by the request tap; each piece of the answer goes through the answer's
 * tap and is written and flushed to the client at once; from the moment the tap has the final usage, the rest of
 * the answer waits until the publisher has the exchange's event, then the answer ends. The upstream connection
 * lives on this connection's event loop, so nothing on the data path changes threads. One request at a time
 * (no pipelining).
 */
final class ClientConnection extends ChannelInboundHandlerAdapter {

    /** Headers of one hop, never forwarded (RFC 9110 7.6.1). */
    private static final Set<AsciiString> HOP_BY_HOP = Set.of(HttpHeaderNames.CONNECTION, HttpHeaderNames.KEEP_ALIVE,
            HttpHeaderNames.PROXY_CONNECTION, HttpHeaderNames.TE, HttpHeaderNames.TRAILER,
            HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderNames.UPGRADE, HttpHeaderNames.PROXY_AUTHENTICATE,
            HttpHeaderNames.PROXY_AUTHORIZATION);
    private static final AsciiString REQUEST_ID = AsciiString.cached("x-request-id");

    private final NettyProxy proxy;
    private ChannelHandlerContext client;
    private Channel upstream;
    /** The exchange in flight, or null between requests. */
    private NettyExchange exchange;
    private boolean clientKeepAlive;
    private boolean upstreamKeepAlive;
    private boolean responseStarted;
    private int status;
    private NettyProxy.Tap tap;
    private final List<ByteBuffer> out = new ArrayList<>();
    /** What is written once the event is in the publisher's hands; non-null from the final usage on. */
    private List<ByteBuf> held;

    ClientConnection(NettyProxy proxy) {
        this.proxy = proxy;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        client = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest request)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        try {
            onRequest(request);
        } finally {
            request.release();
        }
    }

    private void onRequest(FullHttpRequest request) {
        clientKeepAlive = HttpUtil.isKeepAlive(request);
        if (!request.decoderResult().isSuccess()) {
            clientKeepAlive = false;
            writeError(400);
            return;
        }
        String uri = request.uri();
        int question = uri.indexOf('?');
        String path = question < 0 ? uri : uri.substring(0, question);
        String query = question < 0 ? "" : uri.substring(question);
        InetSocketAddress remote = (InetSocketAddress) client.channel().remoteAddress();
        String remoteAddress = remote.getAddress().getHostAddress();
        NettyExchange started = proxy.newExchange(request.method().name(), path, request.headers(), remoteAddress);
        exchange = started;
        responseStarted = false;
        status = 0;
        tap = null;
        held = null;
        if (started.forwardPath == null) {
            clientKeepAlive = false;
            writeError(400);
            finish(400, null, false);
            return;
        }
        ByteBuf body = upstreamBody(started, request.content());
        DefaultFullHttpRequest forwarded = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, request.method(),
                started.forwardPath + query, body, false);
        HttpHeaders headers = forwarded.headers();
        for (Iterator<Map.Entry<CharSequence, CharSequence>> it = request.headers().iteratorCharSequence();
             it.hasNext(); ) {
            Map.Entry<CharSequence, CharSequence> header = it.next();
            if (!HOP_BY_HOP.contains(AsciiString.of(header.getKey()).toLowerCase())) {
                headers.add(header.getKey(), header.getValue());
            }
        }
        String clientHost = headers.get(HttpHeaderNames.HOST);
        headers.set(HttpHeaderNames.HOST, proxy.upstreamAuthority);
        headers.set(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
        headers.remove(HttpHeaderNames.EXPECT);
        if (started.requestIdGenerated) {
            headers.set(REQUEST_ID, started.requestId);
        }
        if (started.metered()) {
            headers.remove(HttpHeaderNames.ACCEPT_ENCODING);
        }
        String forwardedFor = headers.get("X-Forwarded-For");
        headers.set("X-Forwarded-For", forwardedFor == null ? remoteAddress : forwardedFor + ", " + remoteAddress);
        if (!headers.contains("X-Forwarded-Proto")) {
            headers.set("X-Forwarded-Proto", "http");
        }
        if (clientHost != null && !headers.contains("X-Forwarded-Host")) {
            headers.set("X-Forwarded-Host", clientHost);
        }
        if (!headers.contains("X-Forwarded-Port")) {
            headers.set("X-Forwarded-Port",
                    Integer.toString(((InetSocketAddress) client.channel().localAddress()).getPort()));
        }
        headers.add(HttpHeaderNames.VIA, proxy.via);
        send(forwarded);
    }

    /** The body as the upstream gets it: through the request tap when the route reads it. */
    private ByteBuf upstreamBody(NettyExchange started, ByteBuf content) {
        if (started.body == null) {
            return content.retainedDuplicate();
        }
        // the rewriter's output may be slices of its input: a heap copy of the body lives as long as the request
        byte[] bytes = ByteBufUtil.getBytes(content);
        started.body.transform(ByteBuffer.wrap(bytes), true, out);
        ByteBuf body = out.size() == 1 ? Unpooled.wrappedBuffer(out.get(0))
                : Unpooled.wrappedBuffer(out.toArray(new ByteBuffer[0]));
        out.clear();
        return body;
    }

    private void send(DefaultFullHttpRequest forwarded) {
        if (upstream != null && upstream.isActive()) {
            write(forwarded);
            return;
        }
        new Bootstrap()
                .group(client.channel().eventLoop())
                .channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS,
                        (int) proxy.config.upstream().connectTimeout().toMillis())
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel channel) {
                        channel.pipeline().addLast(new HttpClientCodec(), new UpstreamHandler());
                    }
                })
                .connect(proxy.upstreamHost, proxy.upstreamPort)
                .addListener((ChannelFuture connected) -> {
                    if (connected.isSuccess() && client.channel().isActive()) {
                        upstream = connected.channel();
                        write(forwarded);
                    } else {
                        forwarded.release();
                        if (connected.isSuccess()) {
                            connected.channel().close();
                        }
                        upstreamFailed(connected.cause() == null ? new ClosedChannelException() : connected.cause());
                    }
                });
    }

    private void write(DefaultFullHttpRequest forwarded) {
        upstream.writeAndFlush(forwarded).addListener((ChannelFuture written) -> {
            if (!written.isSuccess()) {
                written.channel().close();
                upstreamFailed(written.cause());
            }
        });
    }

    private void onResponseHead(HttpResponse response) {
        NettyExchange current = exchange;
        status = response.status().code();
        current.upstreamStatus = status;
        if (current.metered()) {
            proxy.metrics.upstreamLatency(current.route, System.nanoTime() - current.startedNanos);
            tap = proxy.responseTap(current, response.headers());
        }
        upstreamKeepAlive = HttpUtil.isKeepAlive(response);
        DefaultHttpResponse answer = new DefaultHttpResponse(HttpVersion.HTTP_1_1, response.status());
        HttpHeaders headers = answer.headers();
        for (Iterator<Map.Entry<CharSequence, CharSequence>> it = response.headers().iteratorCharSequence();
             it.hasNext(); ) {
            Map.Entry<CharSequence, CharSequence> header = it.next();
            if (!HOP_BY_HOP.contains(AsciiString.of(header.getKey()).toLowerCase())) {
                headers.add(header.getKey(), header.getValue());
            }
        }
        if (current.lengthChanged) {
            headers.remove(HttpHeaderNames.CONTENT_LENGTH);
        }
        boolean bodyless = status == 204 || status == 304 || status < 200 || HttpMethod.HEAD.name().equals(current.method);
        if (!bodyless && !headers.contains(HttpHeaderNames.CONTENT_LENGTH)) {
            headers.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        }
        if (!clientKeepAlive) {
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        responseStarted = true;
        if ("text/event-stream".equals(NettyProxy.mediaType(response.headers().get(HttpHeaderNames.CONTENT_TYPE)))) {
            // an event stream's headers go out now, not with its first event
            client.writeAndFlush(answer);
        } else {
            client.write(answer);
        }
    }

    private void onContent(HttpContent content) {
        NettyExchange current = exchange;
        boolean last = content instanceof LastHttpContent;
        ByteBuf bytes = content.content();
        if (bytes.isReadable()) {
            current.firstByte(System.currentTimeMillis());
        }
        if (tap == null) {
            if (last) {
                holdOn().add(bytes.retain());
                content.release();
            } else if (bytes.isReadable()) {
                client.writeAndFlush(new DefaultHttpContent(bytes));
            } else {
                content.release();
            }
        } else {
            try {
                tap.transform(bytes.nioBuffer(), last, out);
            } catch (RuntimeException e) {
                out.clear();
                content.release();
                upstream.close();
                upstreamFailed(e);
                return;
            }
            if (held != null || last || current.facts.finalUsageSeen()) {
                // the tap knows the usage: the rest reaches the client once the event is handed over
                List<ByteBuf> hold = holdOn();
                for (ByteBuffer piece : out) {
                    hold.add(Unpooled.copiedBuffer(piece));
                }
                out.clear();
                content.release();
            } else if (!out.isEmpty()) {
                ByteBuf pieces = out.size() == 1 ? Unpooled.wrappedBuffer(out.get(0))
                        : Unpooled.wrappedBuffer(out.toArray(new ByteBuffer[0]));
                out.clear();
                // the pieces are views of the upstream's buffer: it goes back once they are written
                client.writeAndFlush(new DefaultHttpContent(pieces)).addListener(written -> content.release());
            } else {
                content.release();
            }
        }
        if (last) {
            finish(status, null, true);
        }
    }

    private List<ByteBuf> holdOn() {
        if (held == null) {
            held = new ArrayList<>();
        }
        return held;
    }

    /** Builds and hands over the event, once; the answer's end is written when the publisher has it. */
    private void finish(int finalStatus, Throwable failure, boolean writeEnd) {
        NettyExchange current = exchange;
        if (current == null || !current.finish()) {
            return;
        }
        String outcome = current.outcome(failure);
        if (current.metered()) {
            proxy.metrics.request(current.route, outcome);
        }
        if (!current.publishable()) {
            end(current, writeEnd);
            return;
        }
        UsageEvent event = current.toEvent(finalStatus, outcome, System.currentTimeMillis(),
                proxy.config.metering().proxyHost(), proxy.upstreamAuthority);
        proxy.publisher.publish(event).whenComplete((written, never) ->
                client.executor().execute(() -> end(current, writeEnd)));
    }

    private void end(NettyExchange finished, boolean writeEnd) {
        if (finished != exchange) {
            return;
        }
        List<ByteBuf> rest = held;
        held = null;
        tap = null;
        exchange = null;
        if (!writeEnd || !client.channel().isActive()) {
            if (rest != null) {
                rest.forEach(ByteBuf::release);
            }
            return;
        }
        if (rest != null) {
            for (ByteBuf piece : rest) {
                client.write(new DefaultHttpContent(piece));
            }
        }
        ChannelFuture done = client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        if (!clientKeepAlive) {
            done.addListener(ChannelFutureListener.CLOSE);
        }
        if (!upstreamKeepAlive && upstream != null) {
            upstream.close();
            upstream = null;
        }
    }

    /** The upstream could not be reached, failed to take the request, or went away before its answer ended. */
    private void upstreamFailed(Throwable failure) {
        NettyExchange current = exchange;
        if (current == null || current.finished()) {
            return;
        }
        if (responseStarted) {
            // part of the answer is out: the client can only be told by the connection's end
            client.close();
            finish(status, failure, false);
            return;
        }
        clientKeepAlive = false;
        writeError(502);
        finish(502, failure, false);
    }

    private void writeError(int code) {
        byte[] body = ("{\"error\":{\"message\":\"" + (code == 502 ? "The upstream server could not be reached."
                : "The request path is not valid.") + "\",\"type\":\"" + (code == 502 ? "BadGatewayError"
                : "BadRequestError") + "\",\"param\":null,\"code\":" + code + "}}").getBytes(StandardCharsets.UTF_8);
        DefaultFullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(code), Unpooled.wrappedBuffer(body));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length)
                .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        responseStarted = true;
        status = code;
        client.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        // a slow client slows the upstream's reads, not the proxy's memory
        if (upstream != null) {
            upstream.config().setAutoRead(ctx.channel().isWritable());
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        NettyExchange current = exchange;
        if (current != null && !current.finished()) {
            current.clientAborted = true;
            finish(responseStarted ? status : NettyExchange.CLIENT_CLOSED_REQUEST, new ClosedChannelException(),
                    false);
        }
        if (upstream != null) {
            upstream.close();
            upstream = null;
        }
        if (held != null) {
            held.forEach(ByteBuf::release);
            held = null;
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }

    /** The upstream connection's end: its answer's head and pieces, on the client connection's event loop. */
    private final class UpstreamHandler extends ChannelInboundHandlerAdapter {

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (exchange == null || ctx.channel() != upstream || exchange.finished()) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (msg instanceof HttpResponse response) {
                onResponseHead(response);
            }
            if (msg instanceof HttpContent content) {
                onContent(content);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (ctx.channel() != upstream) {
                return;
            }
            upstream = null;
            upstreamFailed(new IOException("the upstream closed the connection before the answer ended"));
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
