package dev.tokentap.proxy.http;

import io.javalin.Javalin;

/** Starting the proxy's two Javalin servers alike. */
final class Servers {

    private Servers() {
    }

    /**
     * Starts {@code app} on {@code host:port}.
     *
     * @throws IllegalStateException naming the address and why it cannot be bound (a port in use)
     */
    static void start(Javalin app, String host, int port, String what) {
        try {
            app.start(host, port);
        } catch (RuntimeException e) {
            Throwable cause = e;
            while (cause.getCause() != null && cause.getCause() != cause) {
                cause = cause.getCause();
            }
            app.stop();
            throw new IllegalStateException("cannot listen on " + host + ":" + port + " for the " + what + ": "
                    + (cause.getMessage() != null ? cause.getMessage() : cause.toString()), e);
        }
    }
}
