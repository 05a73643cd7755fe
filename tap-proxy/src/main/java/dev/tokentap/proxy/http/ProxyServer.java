package dev.tokentap.proxy.http;

import dev.tokentap.proxy.TapProxyConfig;
import io.javalin.Javalin;
import java.time.Duration;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.ee10.servlet.ServletMapping;
import org.eclipse.jetty.server.AbstractConnector;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.component.LifeCycle;

/**
 * The proxy port: a Javalin app whose servlet context serves every path with {@link MeteringProxyServlet}, so
 * Javalin's router never sees a request and cannot answer one itself (no 404s or redirects of its own).
 */
public final class ProxyServer {

    private final Javalin app;

    private ProxyServer(Javalin app) {
        this.app = app;
    }

    /** Starts the proxy on {@code host:port} (0 picks a free port). */
    public static ProxyServer start(String host, int port, MeteringProxyServlet servlet) {
        return start(host, port, servlet, Duration.ZERO);
    }

    /**
     * Starts the proxy on {@code host:port}; {@link #stop()} then stops accepting connections and lets requests in
     * flight (long streams included) finish for at most {@code drainTimeout} before cutting them.
     */
    public static ProxyServer start(String host, int port, MeteringProxyServlet servlet, Duration drainTimeout) {
        return start(host, port, servlet, drainTimeout, TapProxyConfig.DEFAULT_CLIENT_IDLE_TIMEOUT);
    }

    /**
     * As {@link #start(String, int, MeteringProxyServlet, Duration)}, with client connections closed after
     * {@code clientIdleTimeout} of silence while the proxy waits to read from them: a client that stalls in its
     * request line, headers or body (slow-loris) holds a connection that long at most. Jetty does not count the
     * time a request is being handled with no I/O pending, so a client waiting for a slow response is not cut.
     */
    public static ProxyServer start(String host, int port, MeteringProxyServlet servlet, Duration drainTimeout,
                                    Duration clientIdleTimeout) {
        Javalin app = Javalin.create(config -> {
            config.jetty.modifyServer(server -> {
                // Javalin nests its context inside this handler; Jetty's graceful stop waits for what it counts
                server.setHandler(new GracefulHandler());
                server.setStopTimeout(drainTimeout.toMillis());
                // Javalin adds its connector after this runs, but before the server starts
                server.addEventListener(new LifeCycle.Listener() {
                    @Override
                    public void lifeCycleStarting(LifeCycle event) {
                        for (Connector connector : server.getConnectors()) {
                            if (connector instanceof AbstractConnector c) {
                                c.setIdleTimeout(clientIdleTimeout.toMillis());
                            }
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
            });
        });
        app.start(host, port);
        return new ProxyServer(app);
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
