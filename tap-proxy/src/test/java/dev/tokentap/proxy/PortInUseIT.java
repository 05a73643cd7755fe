package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.config.Cli;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A port another process holds stops the proxy with one line naming it, never a stack trace. */
class PortInUseIT {

    @Test
    void shouldSayInOneLineWhichPortIsTakenBeforeStartingAnything() throws Exception {
        try (ServerSocket taken = bound()) {
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();

            int exit = Cli.execute(new TapProxyMain(), new String[] {"--upstream", "http://127.0.0.1:9",
                    "--listen", "127.0.0.1", "--port", Integer.toString(taken.getLocalPort()), "--admin-port", "0",
                    "--spool-dir", "none"}, Map.of(), new PrintWriter(out, true), new PrintWriter(err, true));

            assertThat(exit).isEqualTo(Cli.EXIT_FAILED);
            assertThat(err.toString().lines().toList()).singleElement().asString()
                    .startsWith("tap-proxy: cannot listen on 127.0.0.1:" + taken.getLocalPort() + " (--port): ");
        }
    }

    @Test
    void shouldNameThePortWhenItIsTakenBetweenTheCheckAndTheStart() throws Exception {
        try (ServerSocket taken = bound()) {
            TapProxyConfig config = ProxyConfigs.loopback("http://127.0.0.1:9", "--proxy-host", "port-it",
                    "--api-key-hash-secret", "x", "--admin-port", Integer.toString(taken.getLocalPort()));

            assertThatThrownBy(() -> TapProxy.start(config, new RecordingPublisher(),
                    new PrometheusMeterRegistry(PrometheusConfig.DEFAULT)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageStartingWith("cannot listen on 127.0.0.1:" + taken.getLocalPort() + " for the admin port: ");
        }
    }

    private static ServerSocket bound() throws Exception {
        ServerSocket socket = new ServerSocket();
        socket.bind(new InetSocketAddress("127.0.0.1", 0));
        return socket;
    }
}
