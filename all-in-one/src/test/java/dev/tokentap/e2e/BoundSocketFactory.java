package dev.tokentap.e2e;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import javax.net.SocketFactory;

/** Sockets bound to one local address before they connect, so a client on this machine calls from that address. */
final class BoundSocketFactory extends SocketFactory {

    private final InetAddress local;

    BoundSocketFactory(String localAddress) throws IOException {
        this.local = InetAddress.getByName(localAddress);
    }

    @Override
    public Socket createSocket() throws IOException {
        Socket socket = new Socket();
        socket.bind(new InetSocketAddress(local, 0));
        return socket;
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
        return new Socket(host, port, local, 0);
    }

    @Override
    public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
        return new Socket(host, port, localHost, localPort);
    }

    @Override
    public Socket createSocket(InetAddress host, int port) throws IOException {
        return new Socket(host, port, local, 0);
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
            throws IOException {
        return new Socket(address, port, localAddress, localPort);
    }
}
