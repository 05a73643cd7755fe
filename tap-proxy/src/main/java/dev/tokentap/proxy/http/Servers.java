package dev.tokentap.proxy.http;

import org.eclipse.jetty.server.Server;

/** Starting the proxy's two Jetty servers alike. */
final class Servers {

    private Servers() {
    }

    /**
     * Starts {@code server}, whose connector listens on {@code host:port}.
     *
     * @throws IllegalStateException naming the address and why it cannot be bound (a port in use)
     */
    static void start(Server server, String host, int port, String what) {
        try {
            server.start();
        } catch (Exception e) {
            Throwable cause = e;
            while (cause.getCause() != null && cause.getCause() != cause) {
                cause = cause.getCause();
            }
            try {
                server.stop();
            } catch (Exception ignored) {
                // the start failure is what matters
            }
            throw new IllegalStateException("cannot listen on " + host + ":" + port + " for the " + what + ": "
                    + (cause.getMessage() != null ? cause.getMessage() : cause.toString()), e);
        }
    }
}
