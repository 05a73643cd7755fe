package dev.tokentap.config;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

/** Checks before a process starts anything that the ports it is told to take are free. */
public final class Ports {

    private Ports() {
    }

    /**
     * Returns when {@code host:port} can be bound (port 0 always can).
     *
     * @param option the option the port was given by, for the message
     * @throws IllegalStateException naming the address, the option and why it cannot be bound
     */
    public static void requireFree(String host, int port, String option) {
        if (port == 0) {
            return;
        }
        InetSocketAddress address = new InetSocketAddress(host, port);
        if (address.isUnresolved()) {
            throw new IllegalStateException("cannot listen on " + host + ":" + port + " (" + option
                    + "): unknown host " + host);
        }
        try (ServerSocket socket = new ServerSocket()) {
            // as the servers bind: an address in TIME_WAIT is free
            socket.setReuseAddress(true);
            socket.bind(address);
        } catch (IOException e) {
            throw new IllegalStateException("cannot listen on " + host + ":" + port + " (" + option + "): "
                    + e.getMessage(), e);
        }
    }
}
