package dev.tokentap.proxy.http;

import io.javalin.Javalin;
import java.time.Duration;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.ee10.servlet.ServletMapping;
import org.eclipse.jetty.server.AbstractConnector;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.handler.MinimumDataRateHandler;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The proxy port: a Javalin app whose servlet context serves every path with {@link MeteringProxyServlet}, so
 * Javalin's router never sees a request and cannot answer one itself (no 404s or redirects of its own). WebSocket
 * upgrades are taken before the servlet layer by a {@link WebSocketTunnel}.
 */
public final class ProxyServer {

    private static final int MIN_THREADS = 4;
    /** Threads above the minimum that stay idle this long end, so a burst's threads do not stay resident. */
    private static final Duration THREAD_IDLE = Duration.ofSeconds(30);

    private final Javalin app;

    private ProxyServer(Javalin app) {
        this.app = app;
    }

    /**
     * Starts the proxy on {@code host:port}; {@link #stop()} then stops accepting connections and lets requests in
     * flight (long streams included) finish for at most the limits' drain timeout before cutting them. Client
     * connections are held to {@code limits}.
     *
     * @throws IllegalStateException when the port cannot be bound
     */
    public static ProxyServer start(String host, int port, MeteringProxyServlet servlet, WebSocketTunnel tunnel,
                                    ClientLimits limits) {
        Javalin app = Javalin.create(config -> {
            // the upstream client takes the server's executor too (AbstractProxyServlet does, without maxThreads)
            QueuedThreadPool threads = new QueuedThreadPool(limits.maxThreads(),
                    Math.min(MIN_THREADS, limits.maxThreads()), (int) THREAD_IDLE.toMillis());
            threads.setName("tap-proxy");
            config.jetty.threadPool = threads;
            config.jetty.modifyServer(server -> {
                // Javalin nests its context inside the innermost wrapper, the tunnel, which passes on every request
                // but a WebSocket upgrade; Jetty's graceful stop waits for what the GracefulHandler counts and for
                // open connections, a WebSocket session's among them
                server.setHandler(limits.minRequestRate() > 0
                        ? new GracefulHandler(new MinimumDataRateHandler(tunnel, limits.minRequestRate(), 0))
                        : new GracefulHandler(tunnel));
                server.setStopTimeout(limits.drainTimeout().toMillis());
                // Javalin adds its connector after this runs, but before the server starts
                server.addEventListener(new LifeCycle.Listener() {
                    @Override
                    public void lifeCycleStarting(LifeCycle event) {
                        for (Connector connector : server.getConnectors()) {
                            limit(connector, limits);
                        }
                    }
                });
            });
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.jetty.modifyServletContextHandler(context -> mountAtRoot(context, servlet.holder()));
            config.jetty.modifyHttpConfiguration(http -> {
                // the upstream's Server and Date headers are forwarded; the proxy adds none of its own
                http.setSendServerVersion(false);
                http.setSendXPoweredBy(false);
                http.setRequestHeaderSize(limits.maxHeaderBytes());
                // Jetty keeps, per kept-alive connection, a trie of the first request's Host, Authorization,
                // Accept and similar fields so that later requests on it can reuse them: 96 KiB a connection at
                // the default size, a quarter of the heap with 256 streams in flight, to save a few small strings
                // per request
                http.setHeaderCacheSize(0);
            });
        });
        Servers.start(app, host, port, "proxy port");
        return new ProxyServer(app);
    }

    /** Gives a connector the idle timeout and swaps its HTTP/1.1 connections for ones with a header deadline. */
    private static void limit(Connector connector, ClientLimits limits) {
        if (connector instanceof AbstractConnector c) {
            c.setIdleTimeout(limits.idleTimeout().toMillis());
            HttpConnectionFactory http = c.getConnectionFactory(HttpConnectionFactory.class);
            if (http != null && !(http instanceof HeaderDeadlineConnectionFactory)) {
                HeaderDeadlineConnectionFactory deadline = new HeaderDeadlineConnectionFactory(
                        http.getHttpConfiguration(), limits.headerTimeout());
                c.removeConnectionFactory(http.getProtocol());
                c.addFirstConnectionFactory(deadline);
                c.setDefaultProtocol(deadline.getProtocol());
            }
        }
    }

    /**
     * Javalin maps its own servlet to {@code /*}; two servlets on one path spec is an error in Jetty, so the
     * mappings are replaced by one that sends {@code /*} to the proxy. Javalin's servlet stays registered, unmapped.
     */
    static void mountAtRoot(ServletContextHandler context, ServletHolder proxy) {
        ServletHandler servlets = context.getServletHandler();
        servlets.addServlet(proxy);
        ServletMapping mapping = new ServletMapping();
        mapping.setServletName(proxy.getName());
        mapping.setPathSpecs(new String[] {"/*"});
        servlets.setServletMappings(new ServletMapping[] {mapping});
    }

    public int port() {
        return app.port();
    }

    public void stop() {
        app.stop();
    }
}
