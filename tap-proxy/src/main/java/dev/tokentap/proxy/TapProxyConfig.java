package dev.tokentap.proxy;

import dev.tokentap.config.Cli;
import dev.tokentap.config.KafkaClients;
import dev.tokentap.config.Problems;
import dev.tokentap.proxy.http.Admin;
import dev.tokentap.proxy.http.ClientLimits;
import dev.tokentap.proxy.http.Metering;
import dev.tokentap.proxy.http.Upstream;
import dev.tokentap.proxy.publish.Publishing;
import java.net.URI;
import java.util.Map;

/**
 * Everything tap-proxy is told at start-up, in records by concern, each validated where it is built and handed to
 * the layer that uses it alone. Read from flags and environment by {@link #fromArgs} ({@link TapProxyOptions}).
 *
 * @param listen     address the proxy port binds
 * @param port       proxy port; 0 picks a free one
 * @param upstream   the vLLM server
 * @param clients    what the proxy port allows a client
 * @param metering   what events record besides usage
 * @param publishing where events go
 * @param admin      the admin port
 */
public record TapProxyConfig(String listen, int port, Upstream upstream, ClientLimits clients, Metering metering,
                             Publishing publishing, Admin admin) {

    public static final int DEFAULT_PORT = 3000;
    public static final int DEFAULT_ADMIN_PORT = 3001;

    /** Checks what is the whole's to check; each part was checked where it was built. */
    public TapProxyConfig {
        new Problems().required("--listen", listen).port("--port", port).throwIfAny();
    }

    /** The same configuration in front of another upstream (the demo's simulator, once it listens). */
    public TapProxyConfig withUpstream(URI url) {
        return new TapProxyConfig(listen, port, new Upstream(url, upstream.connectTimeout(), upstream.timeout()),
                clients, metering, publishing, admin);
    }

    /**
     * Reads flags and environment: a flag wins over its variable, which wins over the default.
     *
     * @throws dev.tokentap.config.ConfigException naming every problem found
     * @throws Cli.HelpRequested                   for {@code --help} and {@code --version}
     */
    public static TapProxyConfig fromArgs(String[] args, Map<String, String> env) {
        return Cli.configure(new TapProxyOptions(), args, env);
    }

    /** Reads flags alone, as tests and embedders configure a proxy. */
    public static TapProxyConfig fromArgs(String... args) {
        return fromArgs(args, Map.of());
    }

    /** The same configuration on other Kafka servers. */
    public TapProxyConfig withKafka(KafkaClients kafka) {
        return new TapProxyConfig(listen, port, upstream, clients, metering, publishing.withKafka(kafka), admin);
    }
}
