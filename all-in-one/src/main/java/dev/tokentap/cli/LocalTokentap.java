package dev.tokentap.cli;

import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.proxy.TapProxyConfig;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * tap-proxy and the aggregator in one JVM, on a given Kafka or on an embedded single-node broker whose log lives
 * under the data directory, so usage survives a restart. What {@code tokentap run} and {@code tokentap demo} start.
 */
final class LocalTokentap implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LocalTokentap.class);

    /** Where everything listens and what it talks to. A null {@code kafka} means: start the embedded broker. */
    record Settings(URI upstream, String kafka, Path dataDir, String listen, int proxyPort, int adminPort,
                    int aggregatorPort, int embeddedKafkaPort) {
    }

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
            String bootstrap = settings.kafka();
            if (bootstrap == null) {
                // the controller port is pinned next to the client port: a KRaft log remembers its quorum
                kafka = EmbeddedKafka.builder()
                        .dataDir(settings.dataDir().resolve("kafka"))
                        .port(settings.embeddedKafkaPort())
                        .controllerPort(settings.embeddedKafkaPort() == 0 ? 0 : settings.embeddedKafkaPort() + 1)
                        .build()
                        .start();
                started.add(kafka);
                bootstrap = kafka.bootstrapServers();
            }
            // callers of a local run are local processes, not pods: never watch whatever cluster a kubeconfig on
            // this machine points at
            Aggregator aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", bootstrap,
                    "--listen", settings.listen(), "--port", Integer.toString(settings.aggregatorPort()),
                    "--state-dir", settings.dataDir().resolve("aggregator").toString(), "--kubernetes", "off"));
            started.add(aggregator);
            // events wait on disk while the broker is away, and survive a crash of this process
            TapProxy proxy = TapProxy.start(TapProxyConfig.fromArgs("--upstream", settings.upstream().toString(),
                    "--kafka", bootstrap, "--listen", settings.listen(),
                    "--port", Integer.toString(settings.proxyPort()),
                    "--admin-port", Integer.toString(settings.adminPort()),
                    "--spool-dir", settings.dataDir().resolve("spool").toString()));
            started.add(proxy);
            String host = "0.0.0.0".equals(settings.listen()) ? "localhost" : settings.listen();
            return new LocalTokentap(kafka, proxy, aggregator, host);
        } catch (RuntimeException e) {
            for (int i = started.size() - 1; i >= 0; i--) {
                closeQuietly(started.get(i));
            }
            throw e;
        }
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
        return embeddedKafka != null ? embeddedKafka.bootstrapServers() : proxy.config().publishing().kafka().bootstrap();
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
