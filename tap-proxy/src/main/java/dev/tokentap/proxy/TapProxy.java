package dev.tokentap.proxy;

import dev.tokentap.proxy.http.AdminServer;
import dev.tokentap.proxy.http.MeteringProxyHandler;
import dev.tokentap.proxy.http.ProxyServer;
import dev.tokentap.proxy.http.WebSocketTunnel;
import dev.tokentap.proxy.http.Metering;
import dev.tokentap.proxy.publish.KafkaUsagePublisher;
import dev.tokentap.proxy.publish.Publishing;
import dev.tokentap.proxy.publish.SpoolingUsagePublisher;
import dev.tokentap.proxy.publish.UsagePublisher;
import dev.tokentap.proxy.usage.ApiKeyHasher;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One running tap-proxy: the proxy port, the admin port and the usage publisher, started together and closed
 * together.
 */
public final class TapProxy implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TapProxy.class);
    /** How long {@link #close()} waits for usage events still on their way to Kafka. */
    public static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);

    private final TapProxyConfig config;
    private final PrometheusMeterRegistry registry;
    private final boolean ownsRegistry;
    private final JvmGcMetrics gcMetrics;
    private final UsagePublisher publisher;
    private final KafkaDeliveryWatch kafkaWatch;
    private final AdminServer admin;
    private final ProxyServer proxy;
    private volatile boolean ready;
    private volatile boolean closed;

    private TapProxy(TapProxyConfig config, PrometheusMeterRegistry registry, boolean ownsRegistry,
                     Function<ProxyMetrics, UsagePublisher> publisherFactory, Duration kafkaWarnAfter) {
        this.config = config;
        this.registry = registry;
        this.ownsRegistry = ownsRegistry;
        if (ownsRegistry) {
            new JvmMemoryMetrics().bindTo(registry);
            new JvmThreadMetrics().bindTo(registry);
            new ProcessorMetrics().bindTo(registry);
            new UptimeMetrics().bindTo(registry);
            gcMetrics = new JvmGcMetrics();
            gcMetrics.bindTo(registry);
        } else {
            gcMetrics = null;
        }
        ProxyMetrics metrics = new ProxyMetrics(registry);
        this.publisher = publisherFactory.apply(metrics);
        // readiness and the gauge both ask the publisher; neither keeps a copy of its health
        metrics.spoolDegraded(() -> publisher.health().degraded());
        this.kafkaWatch = KafkaDeliveryWatch.start(registry, config.publishing().kafka().bootstrap(),
                kafkaWarnAfter);
        AdminServer startedAdmin = null;
        ProxyServer startedProxy = null;
        try {
            startedAdmin = AdminServer.start(config.admin(), registry, () -> ready, publisher::health);
            ApiKeyHasher apiKeys = apiKeyHasher(config.metering());
            WebSocketTunnel tunnel = new WebSocketTunnel(config.upstream(), config.clients(), config.metering(),
                    apiKeys, publisher, metrics);
            MeteringProxyHandler handler = new MeteringProxyHandler(config.upstream(), config.clients(),
                    config.metering(), apiKeys, publisher, metrics);
            startedProxy = ProxyServer.start(config.listen(), config.port(), handler, tunnel, config.clients());
        } catch (RuntimeException e) {
            if (startedAdmin != null) {
                startedAdmin.stop();
            }
            kafkaWatch.close();
            publisher.close(Duration.ofSeconds(1));
            if (gcMetrics != null) {
                gcMetrics.close();
            }
            throw e;
        }
        this.admin = startedAdmin;
        this.proxy = startedProxy;
        warnIfTheBudgetCrowdsTheHeap(config.clients().requestMemoryBudget(), Runtime.getRuntime().maxMemory());
        this.ready = true;
        LOG.info("tap-proxy started port={} adminPort={} upstream={} kafka={} topic={} proxyHost={}",
                port(), admin.port(), config.upstream().url(), config.publishing().kafka().bootstrap(),
                config.publishing().topic(), config.metering().proxyHost());
    }

    /**
     * Starts everything with its own Prometheus registry and a Kafka publisher (spooling to disk when the config
     * has a spool); returns once both ports listen.
     */
    public static TapProxy start(TapProxyConfig config) {
        return new TapProxy(config, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), true,
                metrics -> publisher(config, metrics), KafkaDeliveryWatch.WARN_AFTER);
    }

    /** The Kafka publisher the config asks for: through the disk spool if it has one, else from memory. */
    public static UsagePublisher publisher(TapProxyConfig config, ProxyMetrics metrics) {
        String clientId = "tokentap-proxy-" + config.metering().proxyHost();
        Publishing publishing = config.publishing();
        if (publishing.spool() != null) {
            LOG.info("spooling usage events dir={} max_bytes={} write_timeout_ms={}",
                    publishing.spool().dir().toAbsolutePath(), publishing.spool().maxBytes(),
                    publishing.spool().writeTimeout().toMillis());
            return SpoolingUsagePublisher.create(publishing, clientId, metrics);
        }
        return KafkaUsagePublisher.create(publishing, clientId, metrics);
    }

    /**
     * Starts everything on a given registry (served on {@code /metrics}, not closed by {@link #close()}), with the
     * publisher that {@code publisherFactory} builds from the proxy's metrics.
     */
    public static TapProxy start(TapProxyConfig config, PrometheusMeterRegistry registry,
                                 Function<ProxyMetrics, UsagePublisher> publisherFactory) {
        return new TapProxy(config, registry, false, publisherFactory, KafkaDeliveryWatch.WARN_AFTER);
    }

    /** As {@link #start(TapProxyConfig)}, warning of an unreachable Kafka after {@code kafkaWarnAfter} (tests). */
    static TapProxy start(TapProxyConfig config, Duration kafkaWarnAfter) {
        return new TapProxy(config, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), true,
                metrics -> publisher(config, metrics), kafkaWarnAfter);
    }

    /** Starts everything with a given publisher and registry (tests). */
    public static TapProxy start(TapProxyConfig config, UsagePublisher publisher, PrometheusMeterRegistry registry) {
        return start(config, registry, metrics -> publisher);
    }

    /**
     * Held bodies and the proxy's own data share the heap: a budget past half of it leaves too little for the rest
     * (streams, the publisher's queue) once it is full, and the proxy would run out of memory instead of answering
     * 503.
     */
    private static void warnIfTheBudgetCrowdsTheHeap(long budget, long maxHeap) {
        if (maxHeap != Long.MAX_VALUE && budget > maxHeap / 2) {
            LOG.warn("--request-memory-budget is more than half the heap: raise -Xmx or lower the budget "
                    + "budget_bytes={} max_heap_bytes={}", budget, maxHeap);
        }
    }

    private static ApiKeyHasher apiKeyHasher(Metering metering) {
        if (metering.apiKeyHashSecret() != null) {
            return new ApiKeyHasher(metering.apiKeyHashSecret().bytes());
        }
        LOG.warn("no --api-key-hash-secret (TOKENTAP_API_KEY_HASH_SECRET) given: api_key_id is hashed with a random "
                + "secret, so the same key gets a different id after a restart and on every other replica; "
                + "set one shared secret to group usage by API key");
        byte[] secret = new byte[32];
        new SecureRandom().nextBytes(secret);
        return new ApiKeyHasher(secret);
    }

    /** The proxy port. */
    public int port() {
        return proxy.port();
    }

    /** The admin port. */
    public int adminPort() {
        return admin.port();
    }

    public TapProxyConfig config() {
        return config;
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /**
     * Stops taking requests, lets those in flight finish for at most the configured drain timeout, closes both
     * servers and flushes the publisher for at most {@link #CLOSE_TIMEOUT} (what it cannot deliver stays spooled).
     */
    @Override
    public void close() {
        close(CLOSE_TIMEOUT);
    }

    /** As {@link #close()}, waiting at most {@code publishTimeout} for events still on their way. */
    public void close(Duration publishTimeout) {
        if (closed) {
            return;
        }
        closed = true;
        ready = false;
        try {
            proxy.stop();
        } finally {
            // after the proxy: the events of exchanges it ended are in the queue now
            publisher.close(publishTimeout);
            kafkaWatch.close();
            admin.stop();
            if (gcMetrics != null) {
                gcMetrics.close();
            }
            if (ownsRegistry) {
                registry.close();
            }
            LOG.info("tap-proxy stopped");
        }
    }
}
