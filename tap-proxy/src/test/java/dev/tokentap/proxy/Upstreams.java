package dev.tokentap.proxy;

import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/** The tests' own upstreams: a Jetty server on a free loopback port, answering with the test's handler. */
final class Upstreams {

    private Upstreams() {
    }

    /** A server with one connector on 127.0.0.1 and a free port, started with the test's handler. */
    static Server started(Handler handler) throws Exception {
        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        server.setHandler(handler);
        server.start();
        return server;
    }

    /** The base URL of a {@link #started(Handler)} server. */
    static String url(Server server) {
        return "http://127.0.0.1:" + ((ServerConnector) server.getConnectors()[0]).getLocalPort();
    }
}
