package dev.tokentap.bench.netty;

import com.fasterxml.uuid.Generators;
import com.fasterxml.uuid.impl.TimeBasedEpochGenerator;
import dev.tokentap.proxy.ProxyMetrics;
import dev.tokentap.proxy.TapProxyConfig;
import dev.tokentap.proxy.publish.UsagePublisher;
import dev.tokentap.proxy.usage.ApiKeyHasher;
import dev.tokentap.proxy.usage.JsonResponseTap;
import dev.tokentap.proxy.usage.MeteredRoutes;
import dev.tokentap.proxy.usage.RequestBodyRewriter;
import dev.tokentap.proxy.usage.SseResponseTap;
import dev.tokentap.proxy.usage.StreamStrip;
import dev.tokentap.proxy.usage.TraceContext;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * An experimental reverse proxy on Netty, measured beside tap-proxy's Jetty data paths ({@code bench
 * --netty-proxy}, docs/benchmarks.md "A Netty-based path, measured"): Netty's HTTP codec on both sides, one
 * keep-alive upstream connection per client connection on the client connection's own event loop (no hand-off
 * between threads anywhere on the data path), each upstream chunk through tap-proxy's own tap classes and written
 * and flushed at once, and one usage event per metered exchange to tap-proxy's publisher, the end of the answer
 * held until the publisher has it, as tap-proxy does. Not part of the product: it leaves out what the product does
 * beyond the data path (see the docs).
 */
public final class NettyProxy implements AutoCloseable {

    private static final TimeBasedEpochGenerator UUID_V7 = Generators.timeBasedEpochGenerator();

    final TapProxyConfig config;
    final UsagePublisher publisher;
    final ProxyMetrics metrics;
    private final ApiKeyHasher apiKeys;
    private final String injection;
    final String upstreamHost;
    final int upstreamPort;
    final String upstreamAuthority;
    final String via;
    private final EventLoopGroup loops;
    private final Channel server;

    private NettyProxy(TapProxyConfig config, UsagePublisher publisher, ProxyMetrics metrics, ApiKeyHasher apiKeys,
                       int threads) throws InterruptedException {
        this.config = config;
        this.publisher = publisher;
        this.metrics = metrics;
        this.apiKeys = apiKeys;
        this.injection = config.metering().continuousUsage() ? RequestBodyRewriter.INJECTED_STREAM_OPTIONS
                : RequestBodyRewriter.INJECTED_INCLUDE_USAGE;
        this.upstreamHost = config.upstream().url().getHost();
        int port = config.upstream().url().getPort();
        this.upstreamPort = port > 0 ? port : "https".equalsIgnoreCase(config.upstream().url().getScheme()) ? 443 : 80;
        this.upstreamAuthority = config.upstream().authority();
        this.via = "1.1 " + config.metering().proxyHost();
        this.loops = new NioEventLoopGroup(threads);
        int maxBody = (int) Math.min(Integer.MAX_VALUE, config.clients().maxRequestBytes());
        this.server = new ServerBootstrap()
                .group(loops)
                .channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel channel) {
                        channel.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(maxBody),
                                new ClientConnection(NettyProxy.this));
                    }
                })
                .bind(config.listen(), config.port()).sync().channel();
    }

    /**
     * Listens on the config's address and port with {@code threads} event loops (0: Netty's default, two per
     * core), forwarding to its upstream.
     */
    public static NettyProxy start(TapProxyConfig config, UsagePublisher publisher, ProxyMetrics metrics,
                                   ApiKeyHasher apiKeys, int threads) throws InterruptedException {
        return new NettyProxy(config, publisher, metrics, apiKeys, threads);
    }

    public int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    /** The exchange of a request, as tap-proxy's {@code MeteredExchanges.newExchange} builds it for JSON bodies. */
    NettyExchange newExchange(String method, String path, HttpHeaders headers, String remoteAddress) {
        long now = System.currentTimeMillis();
        long nanos = System.nanoTime();
        String forwardPath = MeteredRoutes.forwardPath(path);
        String route = forwardPath == null ? null
                : MeteredRoutes.meteredRoute(method, MeteredRoutes.normalise(forwardPath));
        String requestId = headers.get("X-Request-Id");
        if (route == null) {
            return new NettyExchange(null, now, nanos, method, null, forwardPath, requestId, false, null, null, null,
                    null);
        }
        String eventId = UUID_V7.generate().toString();
        boolean generated = !MeteredRoutes.OTHER.equals(route) && (requestId == null || requestId.isBlank());
        if (generated) {
            requestId = eventId;
        }
        String encoding = headers.get(HttpHeaderNames.CONTENT_ENCODING);
        boolean readable = encoding == null || encoding.isBlank() || "identity".equalsIgnoreCase(encoding.strip());
        return new NettyExchange(eventId, now, nanos, method, route, forwardPath, requestId, generated,
                TraceContext.parse(headers.get("traceparent")), remoteAddress,
                apiKeys.idForAuthorization(headers.get(HttpHeaderNames.AUTHORIZATION)),
                readable && MeteredRoutes.readsJsonBody(route) ? RequestBodyRewriter.forRoute(route, injection)
                        : null);
    }

    /** What the tap of an answer does to one piece of it. */
    @FunctionalInterface
    interface Tap {
        void transform(ByteBuffer input, boolean last, List<ByteBuffer> output);
    }

    /** The tap by the answer's headers, as tap-proxy's {@code MeteredExchanges.responseTap} chooses it; null: none. */
    Tap responseTap(NettyExchange exchange, HttpHeaders upstreamHeaders) {
        String encoding = upstreamHeaders.get(HttpHeaderNames.CONTENT_ENCODING);
        if (encoding != null && !encoding.isBlank() && !"identity".equalsIgnoreCase(encoding.strip())) {
            return null;
        }
        String contentType = mediaType(upstreamHeaders.get(HttpHeaderNames.CONTENT_TYPE));
        if ("text/event-stream".equals(contentType)) {
            if (exchange.body != null && exchange.body.injected()) {
                exchange.lengthChanged = true;
                StreamStrip strip = StreamStrip.of(exchange.body.policy(), exchange.body.clientStreamOptions(),
                        config.metering().vllmGeneration(), config.metering().forceIncludeUsage());
                return new SseResponseTap(exchange.facts, strip)::transform;
            }
            return new SseResponseTap(exchange.facts, (StreamStrip) null)::transform;
        }
        if ("application/json".equals(contentType)) {
            return new JsonResponseTap(exchange.facts)::transform;
        }
        return null;
    }

    static String mediaType(String contentType) {
        if (contentType == null) {
            return null;
        }
        int semicolon = contentType.indexOf(';');
        return (semicolon < 0 ? contentType : contentType.substring(0, semicolon)).strip().toLowerCase(Locale.ROOT);
    }

    /** Stops listening and lets the event loops finish what they have. */
    @Override
    public void close() {
        server.close().syncUninterruptibly();
        loops.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
