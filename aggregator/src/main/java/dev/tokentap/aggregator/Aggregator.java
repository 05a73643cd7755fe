package dev.tokentap.aggregator;

import dev.tokentap.aggregator.http.AggregatorHttpServer;
import dev.tokentap.aggregator.http.StreamsHealth;
import dev.tokentap.aggregator.identity.Identity;
import dev.tokentap.aggregator.identity.IdentityResolver;
import dev.tokentap.aggregator.k8s.Kubernetes;
import dev.tokentap.aggregator.k8s.KubernetesIdentity;
import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.event.Topics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import dev.tokentap.aggregator.usage.UsageQuery;
import dev.tokentap.aggregator.usage.UsageRanges;
import dev.tokentap.aggregator.usage.UsageRows;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.state.HostInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running aggregator: ensures its topics exist, runs the Kafka Streams topology and serves the totals over
 * HTTP. {@link #start} returns without waiting for Streams to be RUNNING; {@link #awaitRunning} waits.
 */
public final class Aggregator implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Aggregator.class);

    /** How long {@link #close()} lets Streams finish its last commit. */
    static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);
    /** How long start-up waits for Kafka to list and create topics. */
    static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(60);
    /** The Streams producer's batch size unless passed through: 128 KiB rather than the client's 16 KiB. */
    static final int PRODUCER_BATCH_SIZE = 128 * 1024;

    private final KafkaStreams streams;
    private final StreamsHealth health;
    private final AggregatorHttpServer http;
    private final PrometheusMeterRegistry registry;
    private final PodDirectory pods;
    private final boolean leaveGroupOnClose;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Aggregator(KafkaStreams streams, StreamsHealth health, AggregatorHttpServer http,
                       PrometheusMeterRegistry registry, PodDirectory pods, boolean leaveGroupOnClose) {
        this.pods = pods;
        this.streams = streams;
        this.health = health;
        this.http = http;
        this.registry = registry;
        this.leaveGroupOnClose = leaveGroupOnClose;
    }

    /**
     * Starts the aggregator.
     *
     * @throws IllegalStateException when Kafka can't be reached to ensure the topics, or the HTTP port is taken
     */
    public static Aggregator start(AggregatorConfig config) {
        Kubernetes kubernetes = config.kubernetes();
        PodDirectory pods = KubernetesIdentity.open(kubernetes.mode() == Kubernetes.Mode.AUTO, kubernetes.directory(),
                System.getenv(), Clock.systemUTC());
        return start(config, pods);
    }

    /**
     * Starts the aggregator with a pod directory of the caller's choosing (tests, embedders); the aggregator
     * closes it when it closes, or when it fails to start.
     */
    public static Aggregator start(AggregatorConfig config, PodDirectory pods) {
        return start(config, pods, Clock.systemUTC());
    }

    /**
     * Starts the aggregator with the given clock as its own time: the time every usage record is stamped with when
     * read, and the time hours close by. For tests and embedders that need time to pass faster than it does.
     */
    public static Aggregator start(AggregatorConfig config, PodDirectory pods, Clock clock) {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        try {
            return start(config, pods, registry, clock);
        } catch (RuntimeException e) {
            registry.close();
            pods.close();
            throw e;
        }
    }

    static Aggregator start(AggregatorConfig config, PodDirectory pods, PrometheusMeterRegistry registry) {
        return start(config, pods, registry, Clock.systemUTC());
    }

    static Aggregator start(AggregatorConfig config, PodDirectory pods, PrometheusMeterRegistry registry,
                            Clock clock) {
        Streams settings = config.streams();
        Topics topics = settings.topics();
        LOG.info("aggregator starting kafka={} topic={} enriched_topic={} dlq_topic={} application_id={} state_dir={} "
                        + "stream_threads={} commit_interval_ms={} rocksdb_memory_bytes={} dedup_retention={} "
                        + "response_retention={} "
                        + "model_series_cap={} client_series_cap={}", settings.kafka().bootstrap(), topics.usage(), topics.enriched(),
                topics.dlq(), settings.applicationId(), settings.stateDir().toAbsolutePath(), settings.threads(),
                settings.commitInterval().toMillis(), settings.rocksDbMemory(), config.limits().dedupRetention(),
                config.limits().responseRetention(), config.limits().modelSeriesCap(), config.limits().clientSeriesCap());
        Identity identity = config.identity();
        IdentityResolver identities = identity.resolver();
        LOG.info("identity precedence={} api_key_aliases={} watch_namespaces={} pod_labels={}",
                identities.precedence().stream().map(IdentityResolver.Signal::source).toList(),
                identity.apiKeyAliasesFile() == null ? "none" : identity.apiKeyAliasesFile(),
                config.kubernetes().watchNamespaces().isEmpty() ? "all" : config.kubernetes().watchNamespaces(),
                config.kubernetes().podLabels());

        ensureTopics(settings);

        AggregatorMetrics metrics = new AggregatorMetrics(registry);
        Topology topology = UsageTopology.build(topics, pods, identities, clock, config.limits(), config.billing(),
                metrics);
        LOG.debug("topology {}", topology.describe());
        StreamsHealth health = new StreamsHealth();
        DirectoryReadiness directoryReady = new DirectoryReadiness(pods, config.kubernetes().syncTimeout(), clock);
        // the HTTP port is bound first: Streams is told it (application.server) so that replicas can ask each other
        AtomicReference<KafkaStreams> streamsRef = new AtomicReference<>();
        AtomicReference<FleetUsage> fleetRef = new AtomicReference<>();
        LocalTotals totals = new LocalTotals(streamsRef::get);
        UsageRanges ranges = new UsageRanges() {
            @Override
            public UsageRows fleet(UsageQuery query) {
                return fleetRef.get().fleet(query);
            }

            @Override
            public UsageRows local(UsageQuery query, Set<Integer> parts) {
                return fleetRef.get().local(query, parts);
            }

            @Override
            public Duration retention() {
                return config.billing().usageRetention();
            }
        };

        AggregatorHttpServer http;
        try {
            http = AggregatorHttpServer.start(config.http(), metrics::scrape, totals, health,
                    () -> health.ready() && directoryReady.getAsBoolean() && metrics.renders(), ranges, clock);
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot listen on " + config.http().listen() + ":"
                    + config.http().port() + " for HTTP: " + e.getMessage(), e);
        }
        KafkaStreams streams;
        try {
            Properties props = streamsProperties(settings);
            HostInfo self = HostInfo.buildFromEndpoint(props.getProperty(StreamsConfig.APPLICATION_SERVER_CONFIG,
                    advertisedHost(config) + ":" + http.port()));
            props.put(StreamsConfig.APPLICATION_SERVER_CONFIG, self.host() + ":" + self.port());
            String token = config.http().token() == null ? null : config.http().token().value();
            fleetRef.set(new FleetUsage(streamsRef::get, self, repartitionTopic(settings),
                    new PartitionCount(settings, repartitionTopic(settings)), token,
                    config.billing().usageRetention()));
            streams = new KafkaStreams(topology, props);
            streamsRef.set(streams);
            LOG.info("usage api application_server={}:{} prices={} hourly_grace={} usage_retention={}", self.host(),
                    self.port(), config.billing().prices().configured()
                            ? config.billing().prices().entries().size() + " in " + config.billing().prices().currency()
                            : "none", config.billing().hourlyGrace(), config.billing().usageRetention());
        } catch (RuntimeException e) {
            http.close();
            throw e;
        }
        streams.setStateListener(health);
        streams.setGlobalStateRestoreListener(new StateRestores(metrics));
        streams.setUncaughtExceptionHandler(new StreamThreadFailures(3, Duration.ofMinutes(5), Clock.systemUTC()));
        metrics.bindStreamsState(streams::state);
        metrics.bindUsageTotals(totals);
        metrics.bindPodDirectory(pods, clock);
        try {
            streams.start();
        } catch (RuntimeException e) {
            http.close();
            streams.close(Duration.ZERO);
            throw e;
        }
        // with static membership the instance keeps its place across a restart; otherwise leaving on close
        // spares the others a wait for its session to time out
        Map<String, String> kafkaProperties = settings.kafka().properties();
        boolean leaveGroup = !kafkaProperties.containsKey(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG)
                && !kafkaProperties.containsKey(
                StreamsConfig.consumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG));
        return new Aggregator(streams, health, http, registry, pods, leaveGroup);
    }

    /** The topic the hourly sums' tasks read: its partitions are the hourly store's. */
    static String repartitionTopic(Streams settings) {
        return settings.applicationId() + "-" + UsageTopology.BY_HOUR + "-repartition";
    }

    /**
     * The host other replicas reach this one at: {@code --advertised-host}, else the {@code --listen} address, else
     * (listening on every address) this machine's address.
     */
    static String advertisedHost(AggregatorConfig config) {
        if (config.http().advertisedHost() != null) {
            return config.http().advertisedHost();
        }
        String listen = config.http().listen();
        if (!"0.0.0.0".equals(listen) && !"::".equals(listen) && !"[::]".equals(listen)) {
            return listen;
        }
        try {
            return InetAddress.getLocalHost().getHostAddress();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }

    /** The partitions of a topic, asked of Kafka once and remembered (Streams never changes them). */
    static final class PartitionCount implements java.util.function.IntSupplier {
        private final Streams settings;
        private final String topic;
        private volatile int count;

        PartitionCount(Streams settings, String topic) {
            this.settings = settings;
            this.topic = topic;
        }

        @Override
        public int getAsInt() {
            if (count > 0) {
                return count;
            }
            try (Admin admin = Admin.create(adminProperties(settings))) {
                count = admin.describeTopics(List.of(topic)).allTopicNames()
                        .get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(topic).partitions().size();
                return count;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            } catch (ExecutionException | TimeoutException e) {
                throw new IllegalStateException(String.valueOf(e.getCause() != null ? e.getCause() : e), e);
            }
        }
    }

    /** The HTTP port actually bound. */
    public int port() {
        return http.port();
    }

    /** The pod directory callers are resolved with. */
    public PodDirectory pods() {
        return pods;
    }

    /** The current Kafka Streams state. */
    public KafkaStreams.State state() {
        return health.state();
    }

    /** Waits until Streams is RUNNING; false on timeout or if it failed first. */
    public boolean awaitRunning(Duration timeout) {
        try {
            return health.awaitRunning(timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Stops Streams (bounded by {@link #CLOSE_TIMEOUT}, committing what it has) and then the HTTP server. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        LOG.info("aggregator stopping");
        boolean clean = streams.close(CloseOptions.timeout(CLOSE_TIMEOUT).withGroupMembershipOperation(
                leaveGroupOnClose ? CloseOptions.GroupMembershipOperation.LEAVE_GROUP
                        : CloseOptions.GroupMembershipOperation.REMAIN_IN_GROUP));
        http.close();
        pods.close();
        registry.close();
        LOG.info("aggregator stopped clean={}", clean);
    }

    /**
     * The Kafka Streams properties: passed-through ones first, then the aggregator's own, which win. Exactly-once
     * is not negotiable: the totals are only exact with it.
     */
    static Properties streamsProperties(Streams config) {
        Properties props = new Properties();
        // the 5.0 default (its constant is already deprecated); set so Streams does not warn at every start
        props.put("processing.exception.handler.global.enabled", "true");
        // every task of this topology reads one partition, so there is nothing to wait for before processing; at
        // the default (0) Streams still builds sets and log strings for each record to decide that
        props.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, Long.toString(StreamsConfig.MAX_TASK_IDLE_MS_DISABLED));
        props.putAll(config.kafka().properties());
        // a commit flushes the producer; larger batches let one commit's records of a partition go as one batch.
        // Set only when not passed through, with or without the prefix (Streams lets the prefixed one win)
        String batchSize = StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG);
        if (!props.containsKey(batchSize) && !props.containsKey(ProducerConfig.BATCH_SIZE_CONFIG)) {
            props.put(batchSize, Integer.toString(PRODUCER_BATCH_SIZE));
        }
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId());
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, config.kafka().bootstrap());
        props.put(StreamsConfig.STATE_DIR_CONFIG, config.stateDir().toAbsolutePath().toString());
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.toString(config.commitInterval().toMillis()));
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.toString(config.threads()));
        // RocksDB's native memory, bounded for every store together rather than per store and segment
        props.put(StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG, BoundedRocksDbMemory.class);
        props.put(BoundedRocksDbMemory.MEMORY_CONFIG, Long.toString(config.rocksDbMemory()));
        return props;
    }

    /** Admin properties: the bootstrap servers plus those passed-through properties an admin client knows. */
    static Properties adminProperties(Streams config) {
        Properties props = new Properties();
        Set<String> known = AdminClientConfig.configNames();
        String adminPrefix = StreamsConfig.ADMIN_CLIENT_PREFIX;
        config.kafka().properties().forEach((key, value) -> {
            if (known.contains(key)) {
                props.put(key, value);
            }
        });
        config.kafka().properties().forEach((key, value) -> {
            if (key.startsWith(adminPrefix)) {
                props.put(key.substring(adminPrefix.length()), value);
            }
        });
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.kafka().bootstrap());
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, config.applicationId() + "-setup");
        return props;
    }

    /**
     * Creates the usage, enriched and dead-letter topics if they are missing, with {@code --topic-partitions} partitions
     * and the broker's default replication factor. Topics that exist are left as they are.
     */
    static void ensureTopics(Streams config) {
        Topics topics = config.topics();
        try (Admin admin = Admin.create(adminProperties(config))) {
            Set<String> existing = admin.listTopics().names().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            List<NewTopic> missing = new ArrayList<>();
            for (String name : List.of(topics.usage(), topics.enriched(), topics.hourly(), topics.dlq())) {
                if (!existing.contains(name)) {
                    missing.add(new NewTopic(name, Optional.of(config.topicPartitions()),
                            Optional.empty()));
                }
            }
            for (Map.Entry<String, KafkaFuture<Void>> created
                    : admin.createTopics(missing).values().entrySet()) {
                try {
                    created.getValue().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                    LOG.info("topic created topic={} partitions={}", created.getKey(), config.topicPartitions());
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while ensuring topics", e);
        } catch (ExecutionException | TimeoutException e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            throw new IllegalStateException("cannot ensure topics " + topics.usage() + ", " + topics.enriched()
                    + ", " + topics.hourly() + ", " + topics.dlq()
                    + " on Kafka " + config.kafka().bootstrap() + ": " + cause, cause);
        }
    }
}
