package dev.tokentap.proxy.http;

import java.time.Duration;
import java.util.concurrent.TimeoutException;
import java.nio.ByteBuffer;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.server.handler.MinimumDataRateHandler;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy port: a bare Jetty server whose one handler is {@link MeteringProxyHandler} (no servlet layer, no
 * router that could answer a request itself), with WebSocket upgrades taken in front of it by a
 * {@link WebSocketTunnel}, client connections held to the {@link ClientLimits}, and a graceful stop.
 */
public final class ProxyServer {

    private static final int MIN_THREADS = 4;
    /** Threads above the minimum that stay idle this long end, so a burst's threads do not stay resident. */
    private static final Duration THREAD_IDLE = Duration.ofSeconds(30);

    private static final Logger LOG = LoggerFactory.getLogger(ProxyServer.class);

    private final Server server;
    private final ServerConnector connector;
    private final long drainMillis;

    private ProxyServer(Server server, ServerConnector connector, long drainMillis) {
        this.server = server;
        this.connector = connector;
        this.drainMillis = drainMillis;
    }

    /**
     * Starts the proxy on {@code host:port}; {@link #stop()} then stops accepting connections and lets requests in
     * flight (long streams included) finish for at most the limits' drain timeout before cutting them.
     *
     * @throws IllegalStateException when the port cannot be bound
     */
    public static ProxyServer start(String host, int port, MeteringProxyHandler proxy, WebSocketTunnel tunnel,
                                    ClientLimits limits) {
        QueuedThreadPool threads = new QueuedThreadPool(limits.maxThreads(),
                Math.min(MIN_THREADS, limits.maxThreads()), (int) THREAD_IDLE.toMillis());
        threads.setName("tap-proxy");
        Server server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        http.setRequestHeaderSize(limits.maxHeaderBytes());
        // Jetty keeps, per kept-alive connection, a trie of the first request's Host, Authorization, Accept and
        // similar fields so that later requests on it can reuse them: 96 KiB a connection at the default size, a
        // quarter of the heap with 256 streams in flight, to save a few small strings per request
        http.setHeaderCacheSize(0);
        // the proxy reads a path's metered route itself (MeteredRoutes.normalise); Jetty need not refuse "//v1/./x"
        http.setUriCompliance(UriCompliance.LEGACY);
        ServerConnector connector = new ServerConnector(server,
                new HeaderDeadlineConnectionFactory(http, limits.headerTimeout()));
        connector.setHost(host);
        connector.setPort(port);
        connector.setIdleTimeout(limits.idleTimeout().toMillis());
        server.addConnector(connector);
        Handler.Wrapper graceful = limits.minRequestRate() > 0
                ? new GracefulHandler(new MinimumDataRateHandler(limits.minRequestRate(), 0))
                : new GracefulHandler();
        Handler.Wrapper innermost = graceful.getHandler() instanceof Handler.Wrapper inner ? inner : graceful;
        // the tunnel takes WebSocket upgrades and passes every other request on to the proxy; Jetty's graceful stop
        // waits for what the GracefulHandler counts and for open connections, a WebSocket session's among them
        tunnel.setHandler(proxy);
        innermost.setHandler(tunnel);
        server.setHandler(graceful);
        // what Jetty answers itself (a body it cannot parse) is OpenAI's error JSON too, never an HTML page
        server.setErrorHandler((Request.Handler) (request, response, callback) -> {
            Object status = request.getAttribute(ErrorHandler.ERROR_STATUS);
            int code = status instanceof Integer i ? i : response.getStatus();
            byte[] body = OpenAiError.forStatus(code);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
            response.write(true, ByteBuffer.wrap(body), callback);
            return true;
        });
        server.setStopTimeout(limits.drainTimeout().toMillis());
        Servers.start(server, host, port, "proxy port");
        return new ProxyServer(server, connector, limits.drainTimeout().toMillis());
    }

    public int port() {
        return connector.getLocalPort();
    }

    public void stop() {
        try {
            server.stop();
        } catch (TimeoutException e) {
            // the drain timeout passed with requests or sessions still open: Jetty has cut them and stopped, which
            // is what the timeout is for
            LOG.info("proxy port stopped; what was still open after drain_timeout_ms={} was cut", drainMillis);
        } catch (Exception e) {
            throw new IllegalStateException("the proxy port did not stop cleanly", e);
        }
    }
}
