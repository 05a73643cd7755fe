package dev.tokentap.cli;

import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.config.KafkaClients;
import dev.tokentap.config.Ports;
import dev.tokentap.config.Secret;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.proxy.TapProxyConfig;
import dev.tokentap.proxy.http.Metering;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * tap-proxy and the aggregator in one JVM, on a given Kafka or on an embedded single-node broker whose log lives
 * under the data directory, so usage survives a restart. What {@code tokentap run} and {@code tokentap demo} start.
 */
final class LocalTokentap implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LocalTokentap.class);

    /**
     * Everything to start, validated.
     *
     * @param proxy             the proxy's configuration; with the embedded broker, its Kafka address is the broker's
     *                          once it listens
     * @param aggregator        the aggregator's, likewise
     * @param dataDir           where the embedded broker's log lives
     * @param embeddedKafkaPort the embedded broker's client port (0 for a free one), or null to use the Kafka the
     *                          configurations name
     */
    record Settings(TapProxyConfig proxy, AggregatorConfig aggregator, Path dataDir, Integer embeddedKafkaPort) {

        /** The same in front of another upstream. */
        Settings withUpstream(URI upstream) {
            return new Settings(proxy.withUpstream(upstream), aggregator, dataDir, embeddedKafkaPort);
        }

        /**
         * Returns when every port to be bound is free.
         *
         * @throws IllegalStateException naming the first that is not, before anything has started
         */
        void requirePortsFree() {
            Ports.requireFree(proxy.listen(), proxy.port(), "--proxy-port");
            Ports.requireFree(proxy.admin().listen(), proxy.admin().port(), "--admin-port");
            Ports.requireFree(aggregator.http().listen(), aggregator.http().port(), "--aggregator-port");
            if (embeddedKafkaPort != null && embeddedKafkaPort != 0) {
                Ports.requireFree(EMBEDDED_HOST, embeddedKafkaPort, "--embedded-kafka-port");
                Ports.requireFree(EMBEDDED_HOST, embeddedKafkaPort + 1, "--embedded-kafka-port, the next port");
            }
        }
    }

    private static final String EMBEDDED_HOST = "127.0.0.1";
    /** Where, under the data directory, the {@code api_key_id} secret is kept when none is given. */
    static final String API_KEY_SECRET_FILE = "api-key-hash-secret";

    private final EmbeddedKafka embeddedKafka;
    private final TapProxy proxy;
    private final Aggregator aggregator;
    private final String advertisedHost;

    private LocalTokentap(EmbeddedKafka embeddedKafka, TapProxy proxy, Aggregator aggregator, String advertisedHost) {
        this.embeddedKafka = embeddedKafka;
        this.proxy = proxy;
        this.aggregator = aggregator;
        this.advertisedHost = advertisedHost;
    }

    /** Starts the broker (if needed), the aggregator and the proxy; on any failure stops what had started. */
    static LocalTokentap start(Settings settings) {
        List<AutoCloseable> started = new ArrayList<>();
        try {
            EmbeddedKafka kafka = null;
            TapProxyConfig proxyConfig = withKeptApiKeySecret(settings.proxy(), settings.dataDir());
            AggregatorConfig aggregatorConfig = settings.aggregator();
            if (settings.embeddedKafkaPort() != null) {
                int port = settings.embeddedKafkaPort();
                // the controller port is pinned next to the client port: a KRaft log remembers its quorum
                kafka = EmbeddedKafka.builder()
                        .dataDir(settings.dataDir().resolve("kafka"))
                        .port(port)
                        .controllerPort(port == 0 ? 0 : port + 1)
                        .build()
                        .start();
                started.add(kafka);
                KafkaClients clients = proxyConfig.publishing().kafka().withBootstrap(kafka.bootstrapServers());
                proxyConfig = proxyConfig.withKafka(clients);
                aggregatorConfig = aggregatorConfig.withKafka(clients);
            }
            Aggregator aggregator = Aggregator.start(aggregatorConfig);
            started.add(aggregator);
            TapProxy proxy = TapProxy.start(proxyConfig);
            started.add(proxy);
            String host = "0.0.0.0".equals(proxyConfig.listen()) ? "localhost" : proxyConfig.listen();
            return new LocalTokentap(kafka, proxy, aggregator, host);
        } catch (RuntimeException e) {
            for (int i = started.size() - 1; i >= 0; i--) {
                closeQuietly(started.get(i));
            }
            throw e;
        }
    }

    /**
     * The proxy's configuration with an {@code api_key_id} secret that outlives the process: the one given, else one
     * kept under the data directory (made on first start), so that a key keeps its id across restarts as the totals
     * keep their counts.
     */
    static TapProxyConfig withKeptApiKeySecret(TapProxyConfig config, Path dataDir) {
        Metering metering = config.metering();
        if (metering.apiKeyHashSecret() != null) {
            return config;
        }
        Path file = dataDir.resolve(API_KEY_SECRET_FILE);
        Secret secret;
        try {
            if (Files.exists(file)) {
                secret = Secret.of(Files.readString(file).strip());
            } else {
                byte[] random = new byte[32];
                new SecureRandom().nextBytes(random);
                secret = Secret.of(HexFormat.of().formatHex(random));
                Files.createDirectories(dataDir);
                Files.writeString(file, secret.value() + System.lineSeparator());
                try {
                    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
                } catch (UnsupportedOperationException e) {
                    // not a POSIX file system: the directory's own permissions apply
                }
                LOG.info("api_key_id secret made and kept for later starts file={}", file.toAbsolutePath());
            }
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalStateException("cannot keep the api_key_id secret in " + file + ": " + e.getMessage()
                    + " (or give --api-key-hash-secret)", e);
        }
        return new TapProxyConfig(config.listen(), config.port(), config.upstream(), config.clients(),
                new Metering(metering.proxyHost(), metering.tenantHeader(), secret, metering.continuousUsage(),
                        metering.trustedProxies(), metering.vllmGeneration(), metering.forceIncludeUsage()),
                config.publishing(), config.admin());
    }

    /** Waits until the aggregator's Streams application is running; false if it did not within {@code timeout}. */
    boolean awaitAggregatorRunning(Duration timeout) {
        return aggregator.awaitRunning(timeout);
    }

    String proxyUrl() {
        return "http://" + advertisedHost + ":" + proxy.port();
    }

    String proxyAdminUrl() {
        return "http://" + advertisedHost + ":" + proxy.adminPort();
    }

    String aggregatorUrl() {
        return "http://" + advertisedHost + ":" + aggregator.port();
    }

    /** The Kafka bootstrap address in use: the embedded broker's, or the one given. */
    String kafkaBootstrap() {
        return embeddedKafka != null ? embeddedKafka.bootstrapServers()
                : proxy.config().publishing().kafka().bootstrap();
    }

    /** The usage topic. */
    String topic() {
        return proxy.config().publishing().topic();
    }

    /** Stops the proxy first (it flushes its last events), then the aggregator, then the broker. */
    @Override
    public void close() {
        closeQuietly(proxy);
        closeQuietly(aggregator);
        if (embeddedKafka != null) {
            closeQuietly(embeddedKafka);
        }
    }

    private static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception e) {
            LOG.warn("shutdown step failed component={} error={}", closeable.getClass().getSimpleName(), e.toString());
        }
    }
}
