package dev.tokentap.proxy;

import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/** The tests' own upstreams: a Jetty server on a free loopback port, its handler set by the test. */
final class Upstreams {

    private Upstreams() {
    }

    /** A server with one connector on 127.0.0.1 and a free port, not started: the test sets its handler. */
    static Server loopback() {
        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        return server;
    }

    /** The base URL of a started {@link #loopback()} server. */
    static String url(Server server) {
        return "http://127.0.0.1:" + ((ServerConnector) server.getConnectors()[0]).getLocalPort();
    }
}
