package dev.tokentap.aggregator;

import dev.tokentap.aggregator.http.HttpApi;
import dev.tokentap.aggregator.identity.Identity;
import dev.tokentap.aggregator.identity.IdentityResolver;
import dev.tokentap.aggregator.k8s.Kubernetes;
import dev.tokentap.aggregator.pricing.PriceFile;
import dev.tokentap.aggregator.pricing.Prices;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.config.ConfigException;
import dev.tokentap.config.Configurable;
import dev.tokentap.config.KafkaClients;
import dev.tokentap.config.KafkaOptions;
import dev.tokentap.config.ListenOption;
import dev.tokentap.config.Ports;
import dev.tokentap.config.Problems;
import dev.tokentap.config.ReadableFile;
import dev.tokentap.config.Secret;
import dev.tokentap.config.Sizes;
import dev.tokentap.event.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Every option of the aggregator, each declared once, in groups by concern that {@code tokentap run} and
 * {@code demo} mix in as they are; each group builds its record. The options only the standalone process has
 * ({@code --port}, {@code --state-dir}, the Kubernetes group) are the launcher's to replace or leave out: it names
 * callers by address.
 */
@Command(name = "aggregator",
        description = "Totals tokentap usage events from Kafka and serves them to Prometheus.")
public final class AggregatorOptions implements Configurable<AggregatorConfig> {

    @Mixin public KafkaOptions kafka;
    @Mixin public ListenOption listen;

    @Option(names = "--port", paramLabel = "PORT", defaultValue = "" + HttpApi.DEFAULT_PORT,
            converter = Ports.Converter.class, description = "HTTP port for /metrics, /healthz, /readyz, /api/v1/usage; 0 picks a free one")
    int port;

    @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = "./tokentap-state",
            description = "Kafka Streams state directory; keep it across restarts")
    Path stateDir;

    @Mixin public StreamsOptions streams;
    @Mixin public LimitsOptions limits;
    @Mixin public IdentityOptions identity;
    @Mixin public KubernetesOptions kubernetes;
    @Mixin public ApiOptions api;
    @Mixin public BillingOptions billing;

    @Override
    public AggregatorConfig configure() {
        Problems problems = new Problems();
        Streams streamsRecord = problems.collect(() -> streams.toRecord(kafka.clients(), kafka.topic(), stateDir));
        UsageTopology.Limits limitsRecord = problems.collect(limits::toRecord);
        Identity identityRecord = problems.collect(identity::toRecord);
        Kubernetes kubernetesRecord = problems.collect(kubernetes::toRecord);
        HttpApi httpRecord = problems.collect(() -> api.toRecord(listen.address(), port));
        UsageTopology.Billing billingRecord = problems.collect(billing::toRecord);
        problems.throwIfAny();
        return new AggregatorConfig(streamsRecord, limitsRecord, identityRecord, kubernetesRecord, httpRecord,
                billingRecord);
    }

    /** The Kafka Streams application. */
    public static final class StreamsOptions {
        @Option(names = "--application-id", paramLabel = "ID", defaultValue = Streams.DEFAULT_APPLICATION_ID,
                description = "Kafka Streams application id: consumer group and prefix of internal topics; "
                        + "replicas share it")
        String applicationId;

        @Option(names = "--stream-threads", paramLabel = "N", defaultValue = "1", description = "Kafka Streams threads")
        int threads;

        @Option(names = "--topic-partitions", paramLabel = "N", defaultValue = "" + Streams.DEFAULT_TOPIC_PARTITIONS,
                description = "partitions when creating a missing usage, enriched or dead-letter topic")
        int topicPartitions;

        @Option(names = "--commit-interval", paramLabel = "DURATION", defaultValue = Streams.DEFAULT_COMMIT_INTERVAL,
                description = "Kafka Streams commit interval: how often totals are committed, and visible")
        Duration commitInterval;

        @Option(names = "--enriched-topic", paramLabel = "NAME", defaultValue = Topics.ENRICHED,
                description = "topic the enriched records go to; give each usage topic its own")
        String enrichedTopic;

        @Option(names = "--dlq-topic", paramLabel = "NAME", defaultValue = Topics.DLQ,
                description = "topic undecodable usage records go to; give each usage topic its own")
        String dlqTopic;

        @Option(names = "--rocksdb-memory", paramLabel = "SIZE", converter = Sizes.class,
                description = "memory outside the heap that RocksDB may take for every state store together: one "
                        + "block cache, memtables counted in it (default: 64MiB; tokentap run and demo: 16MiB)")
        Long rocksDbMemory;

        /** The application, with the aggregator's own RocksDB memory unless {@code --rocksdb-memory} says. */
        public Streams toRecord(KafkaClients kafka, String usageTopic, Path stateDir) {
            return toRecord(kafka, usageTopic, stateDir, BoundedRocksDbMemory.DEFAULT_MEMORY);
        }

        /** The application, with {@code defaultRocksDbMemory} unless {@code --rocksdb-memory} says. */
        public Streams toRecord(KafkaClients kafka, String usageTopic, Path stateDir, long defaultRocksDbMemory) {
            return new Streams(kafka, new Topics(usageTopic, enrichedTopic, Topics.HOURLY, dlqTopic), applicationId,
                    threads, topicPartitions, commitInterval, stateDir,
                    rocksDbMemory != null ? rocksDbMemory : defaultRocksDbMemory);
        }
    }

    /** The topology's series caps and de-duplication retention. */
    public static final class LimitsOptions {
        /** Shorter would count events replayed after a broker outage twice. */
        static final Duration MIN_DEDUP_RETENTION = Duration.ofMinutes(1);

        @Option(names = "--model-series-cap", paramLabel = "N",
                defaultValue = "" + UsageTopology.DEFAULT_MODEL_SERIES_CAP,
                description = "distinct model label values admitted per stream task, kept across restarts; "
                        + "later models are counted as model=\"other\"")
        int modelSeriesCap;

        @Option(names = "--client-series-cap", paramLabel = "N",
                defaultValue = "" + UsageTopology.DEFAULT_CLIENT_SERIES_CAP,
                description = "distinct client_name label values admitted per stream task, kept across restarts; "
                        + "later clients are counted as client_name=\"other\"")
        int clientSeriesCap;

        @Option(names = "--dedup-retention", paramLabel = "DURATION",
                defaultValue = UsageTopology.DEFAULT_DEDUP_RETENTION_HOURS + "h",
                description = "how long an event_id is remembered so that a replayed or re-sent copy is not "
                        + "counted again, by the aggregator's clock from the first copy, whatever the proxy's "
                        + "(at least 1m)")
        Duration dedupRetention;

        @Option(names = "--response-retention", paramLabel = "DURATION",
                defaultValue = UsageTopology.DEFAULT_RESPONSE_RETENTION_DAYS * 24 + "h",
                description = "how long a stored Responses API response is remembered after its last event, so "
                        + "that reading it back does not bill its usage again (at least 1m)")
        Duration responseRetention;

        public UsageTopology.Limits toRecord() {
            new Problems()
                    .atLeast("--model-series-cap", modelSeriesCap, 1)
                    .atLeast("--client-series-cap", clientSeriesCap, 1)
                    .check(dedupRetention.compareTo(MIN_DEDUP_RETENTION) >= 0,
                            "--dedup-retention must be at least 1m, got " + dedupRetention)
                    .check(responseRetention.compareTo(MIN_DEDUP_RETENTION) >= 0,
                            "--response-retention must be at least 1m, got " + responseRetention)
                    .throwIfAny();
            return new UsageTopology.Limits(modelSeriesCap, clientSeriesCap, dedupRetention, responseRetention);
        }
    }

    /** How callers are named, apart from Kubernetes. */
    public static final class IdentityOptions {
        @Option(names = "--identity-precedence", paramLabel = "SIGNAL,…",
                defaultValue = IdentityResolver.DEFAULT_PRECEDENCE_TEXT,
                description = "what names a client, first present wins: workload (Kubernetes), api_key (alias), "
                        + "tenant (header, from a trusted gateway), address")
        String precedence;

        @Option(names = "--api-key-aliases", paramLabel = "FILE", converter = ReadableFile.class,
                description = "file mapping api_key_id to a client name: lines '<api_key_id> <name>' or a JSON "
                        + "object")
        Path apiKeyAliases;

        public Identity toRecord() {
            Problems problems = new Problems();
            List<IdentityResolver.Signal> signals = problems.collect(() -> read("--identity-precedence",
                    () -> IdentityResolver.parsePrecedence(precedence)));
            Map<String, String> aliases = apiKeyAliases == null ? Map.of()
                    : problems.collect(() -> read("--api-key-aliases",
                            () -> IdentityResolver.readAliases(apiKeyAliases)));
            problems.throwIfAny();
            return new Identity(signals, apiKeyAliases, aliases);
        }
    }

    /** Whether callers are resolved to pods; the standalone aggregator's alone. */
    public static final class KubernetesOptions {
        @Option(names = "--kubernetes", paramLabel = "auto|off", defaultValue = "auto",
                description = "resolve callers to pods: auto (in-cluster config or a kubeconfig if present) or off")
        Kubernetes.Mode mode;

        @Option(names = "--watch-namespaces", paramLabel = "NS,…", split = ",",
                description = "namespaces whose pods identify callers (default: all)")
        List<String> watchNamespaces;

        @Option(names = "--pod-labels", paramLabel = "LABEL,…", split = ",",
                description = "pod labels to carry into the enriched record, e.g. app,team")
        List<String> podLabels;

        @Option(names = "--kubernetes-sync-timeout", paramLabel = "DURATION",
                defaultValue = Kubernetes.DEFAULT_SYNC_TIMEOUT,
                description = "how long /readyz waits for the pod directory's first sync before serving "
                        + "address-only identity")
        Duration syncTimeout;

        @Option(names = "--pod-tombstone-retention", paramLabel = "DURATION",
                defaultValue = Kubernetes.DEFAULT_TOMBSTONE_RETENTION,
                description = "how long a deleted pod still names the events it sent before")
        Duration tombstoneRetention;

        public Kubernetes toRecord() {
            return new Kubernetes(mode, trimmed(watchNamespaces), trimmed(podLabels), syncTimeout,
                    tombstoneRetention);
        }

        private static List<String> trimmed(List<String> items) {
            return items == null ? List.of() : items.stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
        }
    }

    /** Who may read the totals. */
    public static final class ApiOptions {
        @Option(names = "--token-file", paramLabel = "FILE", converter = Secret.FromFile.class,
                description = "file holding a bearer token that /metrics and /api/v1/usage require; /healthz and "
                        + "/readyz stay open")
        Secret token;

        @Option(names = "--advertised-host", paramLabel = "HOST",
                description = "host other aggregator replicas reach this one's HTTP port at, for /api/v1/usage "
                        + "across replicas; in Kubernetes the pod IP (default: the --listen address, or this "
                        + "machine's address when it listens on all)")
        String advertisedHost;

        public HttpApi toRecord(String listen, int port) {
            return new HttpApi(listen, port, token, advertisedHost);
        }
    }

    /** What the aggregator bills by: prices, the hourly records' grace, how long hourly sums are kept. */
    public static final class BillingOptions {
        @Option(names = "--prices", paramLabel = "FILE", converter = ReadableFile.class,
                description = "price list (JSON, or YAML): per model or glob, per million prompt, cached prompt and "
                        + "completion tokens and per audio second, a currency, effective_from; see docs/billing.md. "
                        + "Without it no cost is computed")
        Path prices;

        @Option(names = "--hourly-grace", paramLabel = "DURATION", defaultValue = "10m",
                description = "how long after an hour ends its final hourly record waits for requests still on "
                        + "their way, by the aggregator's clock; later ones go into late records")
        Duration hourlyGrace;

        @Option(names = "--usage-retention", paramLabel = "DURATION", defaultValue = "90d",
                description = "how long the hourly sums are kept for /api/v1/usage and the usage page (at least 1d)")
        Duration usageRetention;

        public UsageTopology.Billing toRecord() {
            Problems problems = new Problems()
                    .notNegative("--hourly-grace", hourlyGrace)
                    .check(usageRetention.compareTo(Duration.ofDays(1)) >= 0,
                            "--usage-retention must be at least 1d, got " + usageRetention);
            // the price list names its own problems, with where they are
            Prices list = prices == null ? Prices.NONE : problems.collect(() -> PriceFile.read(prices));
            problems.throwIfAny();
            return new UsageTopology.Billing(list, hourlyGrace, usageRetention);
        }
    }

    /** The value {@code parse} reads, or the problem of {@code option} it has. */
    private static <T> T read(String option, Supplier<T> parse) {
        try {
            return parse.get();
        } catch (IllegalArgumentException e) {
            throw new ConfigException(List.of(option + ": " + e.getMessage()));
        }
    }
}
