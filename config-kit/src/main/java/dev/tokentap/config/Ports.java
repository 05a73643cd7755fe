package dev.tokentap.config;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Checks before a process starts anything that the ports it is told to take are free. */
public final class Ports {

    private Ports() {
    }

    /** Reads a TCP port, 0 to 65535 (0 picks a free one): {@code converter = Ports.Converter.class}. */
    public static final class Converter implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            int port;
            try {
                port = Integer.parseInt(value.strip());
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + value + "' is not a port");
            }
            if (port < 0 || port > 65_535) {
                throw new TypeConversionException("must be between 0 and 65535, got " + port);
            }
            return port;
        }
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
