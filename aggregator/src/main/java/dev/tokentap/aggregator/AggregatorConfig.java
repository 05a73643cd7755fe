package dev.tokentap.aggregator;

import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import dev.tokentap.aggregator.identity.IdentityResolver;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.event.Topics;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/**
 * Everything the aggregator process is configured with. Validated on construction: a bad value stops start-up
 * with one message naming every problem. Built from flags and environment by {@link #fromArgs}, or in code (the
 * all-in-one launcher, tests) with {@link #builder()}.
 *
 * @param kafka           Kafka bootstrap servers
 * @param topic           the usage topic
 * @param enrichedTopic   where the enriched records go; one per usage topic, so that aggregators of different usage
 *                        topics do not write into one
 * @param dlqTopic        where records of the usage topic that cannot be decoded go
 * @param listen          address the HTTP server binds
 * @param port            HTTP port; 0 picks a free one
 * @param stateDir        Kafka Streams state directory (RocksDB); keep it across restarts to skip restoring
 * @param applicationId   Kafka Streams application id: consumer group, internal topic prefix
 * @param streamThreads   Kafka Streams threads
 * @param topicPartitions partitions of the usage and dead-letter topics when the aggregator has to create them
 * @param kubernetes      whether to resolve callers to pods
 * @param commitInterval  Kafka Streams commit interval (under exactly-once, also the latency of the totals)
 * @param identity        how callers are named: pod directory scope and identity precedence
 * @param kafkaProperties further Kafka / Kafka Streams properties, passed through as they are
 * @param modelSeriesCap  distinct {@code model} label values one stream task admits; later ones count as
 *                        {@code other}
 * @param clientSeriesCap distinct {@code client_name} label values one stream task admits; later ones count as
 *                        {@code other}
 * @param dedupRetention  how long an {@code event_id} is remembered, so that a copy of it is not counted again;
 *                        by the aggregator's own clock, from when it read the first copy
 * @param token           bearer token that {@code /metrics} and {@code /api/v1/usage} require; null for none
 */
public record AggregatorConfig(
        String kafka,
        String topic,
        String enrichedTopic,
        String dlqTopic,
        String listen,
        int port,
        Path stateDir,
        String applicationId,
        int streamThreads,
        int topicPartitions,
        KubernetesMode kubernetes,
        Duration commitInterval,
        Identity identity,
        Map<String, String> kafkaProperties,
        int modelSeriesCap,
        int clientSeriesCap,
        Duration dedupRetention,
        String token) {

    public static final String DEFAULT_KAFKA = "localhost:9092";
    public static final String DEFAULT_TOPIC = Topics.USAGE;
    public static final String DEFAULT_ENRICHED_TOPIC = Topics.ENRICHED;
    public static final String DEFAULT_DLQ_TOPIC = Topics.DLQ;
    public static final String DEFAULT_LISTEN = "0.0.0.0";
    public static final int DEFAULT_PORT = 9400;
    public static final String DEFAULT_STATE_DIR = "./tokentap-state";
    public static final String DEFAULT_APPLICATION_ID = "tokentap-aggregator";
    public static final int DEFAULT_STREAM_THREADS = 1;
    public static final int DEFAULT_TOPIC_PARTITIONS = 6;
    public static final Duration DEFAULT_COMMIT_INTERVAL = Duration.ofMillis(100);
    public static final int DEFAULT_MODEL_SERIES_CAP = UsageTopology.DEFAULT_MODEL_SERIES_CAP;
    public static final int DEFAULT_CLIENT_SERIES_CAP = UsageTopology.DEFAULT_CLIENT_SERIES_CAP;
    public static final Duration DEFAULT_DEDUP_RETENTION = Duration.ofHours(24);

    /** Environment variables with this prefix become Kafka properties: {@code TOKENTAP_KAFKA_SESSION_TIMEOUT_MS}. */
    public static final String KAFKA_ENV_PREFIX = "TOKENTAP_KAFKA_";

    /** Whether callers are resolved to Kubernetes pods. */
    public enum KubernetesMode {
        /** In-cluster config or a kubeconfig if present, else off. */
        AUTO,
        /** Callers are known by address only. */
        OFF;

        static KubernetesMode parse(String text) {
            for (KubernetesMode mode : values()) {
                if (mode.name().equalsIgnoreCase(text.trim())) {
                    return mode;
                }
            }
            throw new IllegalArgumentException("expected auto or off");
        }
    }

    /**
     * How callers are named.
     *
     * @param watchNamespaces    namespaces whose pods are watched; empty for all
     * @param podLabels          pod labels carried into the identity (the enriched record's {@code client.labels})
     * @param precedence         signals a client is named by, first present wins
     * @param apiKeyAliases      optional file mapping {@code api_key_id} to a name; null for none
     * @param syncTimeout        how long {@code /readyz} waits for the pod directory's first sync
     * @param tombstoneRetention how long a deleted pod still resolves events from before its deletion
     */
    public record Identity(
            List<String> watchNamespaces,
            List<String> podLabels,
            List<IdentityResolver.Signal> precedence,
            Path apiKeyAliases,
            Duration syncTimeout,
            Duration tombstoneRetention) {

        public static final Duration DEFAULT_SYNC_TIMEOUT = Duration.ofSeconds(30);
        public static final Duration DEFAULT_TOMBSTONE_RETENTION = Duration.ofMinutes(10);

        /** All namespaces, no labels, the default precedence, no aliases. */
        public static final Identity DEFAULT = new Identity(List.of(), List.of(),
                IdentityResolver.DEFAULT_PRECEDENCE, null, DEFAULT_SYNC_TIMEOUT, DEFAULT_TOMBSTONE_RETENTION);

        public Identity {
            watchNamespaces = watchNamespaces == null ? List.of() : List.copyOf(watchNamespaces);
            podLabels = podLabels == null ? List.of() : List.copyOf(podLabels);
            precedence = precedence == null ? IdentityResolver.DEFAULT_PRECEDENCE : List.copyOf(precedence);
            List<String> problems = problems(precedence, syncTimeout, tombstoneRetention);
            if (!problems.isEmpty()) {
                throw new IllegalArgumentException(message(problems));
            }
        }

        static List<String> problems(List<IdentityResolver.Signal> precedence, Duration syncTimeout,
                                     Duration tombstoneRetention) {
            List<String> problems = new ArrayList<>();
            if (precedence != null && precedence.isEmpty()) {
                problems.add("--identity-precedence must name at least one signal");
            }
            if (syncTimeout == null || syncTimeout.isNegative()) {
                problems.add("--kubernetes-sync-timeout must be zero or more, got " + syncTimeout);
            }
            if (tombstoneRetention == null || tombstoneRetention.isNegative()) {
                problems.add("--pod-tombstone-retention must be zero or more, got " + tombstoneRetention);
            }
            return problems;
        }
    }

    // Kafka's own rule for topic names; application.id becomes a prefix of topic names, so the same applies
    private static final Pattern KAFKA_NAME = Pattern.compile("[a-zA-Z0-9._-]{1,249}");

    public AggregatorConfig {
        kafkaProperties = kafkaProperties == null ? Map.of()
                : Collections.unmodifiableMap(new TreeMap<>(kafkaProperties));
        identity = identity == null ? Identity.DEFAULT : identity;
        dedupRetention = dedupRetention == null ? DEFAULT_DEDUP_RETENTION : dedupRetention;
        List<String> problems = problems(kafka, topic, listen, port, stateDir, applicationId, streamThreads,
                topicPartitions, kubernetes, commitInterval, kafkaProperties);
        if (modelSeriesCap < 1) {
            problems.add("--model-series-cap must be at least 1, got " + modelSeriesCap);
        }
        if (clientSeriesCap < 1) {
            problems.add("--client-series-cap must be at least 1, got " + clientSeriesCap);
        }
        problems.addAll(dedupProblems(dedupRetention));
        problems.addAll(topicProblems(topic, enrichedTopic, dlqTopic));
        if (token != null && token.isBlank()) {
            problems.add("--token-file must hold a token, the file is empty");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(message(problems));
        }
    }

    /** The topics this configuration reads and writes. */
    public Topics topics() {
        return new Topics(topic, enrichedTopic, Topics.HOURLY, dlqTopic);
    }

    @Override
    public String toString() {
        // the token must not reach a log line
        return "AggregatorConfig[kafka=" + kafka + ", topic=" + topic + ", enrichedTopic=" + enrichedTopic
                + ", dlqTopic=" + dlqTopic + ", listen=" + listen + ", port=" + port
                + ", stateDir=" + stateDir + ", applicationId=" + applicationId + ", streamThreads=" + streamThreads
                + ", topicPartitions=" + topicPartitions + ", kubernetes=" + kubernetes + ", commitInterval="
                + commitInterval + ", identity=" + identity + ", kafkaProperties=" + kafkaProperties.keySet()
                + ", modelSeriesCap=" + modelSeriesCap + ", clientSeriesCap=" + clientSeriesCap
                + ", dedupRetention=" + dedupRetention + ", token=" + (token == null ? "none" : "***") + "]";
    }

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The configuration from command-line flags, falling back to environment variables, then defaults.
     *
     * @throws IllegalArgumentException naming every bad or unknown flag and value
     * @throws HelpRequested            for {@code --help} / {@code --version}; its message is the text to print
     */
    public static AggregatorConfig fromArgs(String[] args, Map<String, String> env) {
        Flags flags = new Flags();
        CommandLine cli = new CommandLine(flags).setDefaultValueProvider(new EnvDefaults(env));
        try {
            cli.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            throw new IllegalArgumentException("invalid aggregator configuration: " + e.getMessage()
                    + " (see --help)", e);
        }
        if (cli.isUsageHelpRequested()) {
            throw new HelpRequested(cli.getUsageMessage());
        }
        if (cli.isVersionHelpRequested()) {
            throw new HelpRequested(String.join(System.lineSeparator(), cli.getCommandSpec().version()));
        }

        List<String> problems = new ArrayList<>();
        Builder b = builder()
                .kafka(flags.kafka)
                .topic(flags.topic)
                .enrichedTopic(flags.enrichedTopic)
                .dlqTopic(flags.dlqTopic)
                .listen(flags.listen)
                .applicationId(flags.applicationId)
                .kafkaProperties(kafkaPropertiesFrom(env));
        convert(flags.port, "--port", Integer::parseInt, problems).ifPresent(b::port);
        convert(flags.stateDir, "--state-dir", Path::of, problems).ifPresent(b::stateDir);
        convert(flags.streamThreads, "--stream-threads", Integer::parseInt, problems).ifPresent(b::streamThreads);
        convert(flags.topicPartitions, "--topic-partitions", Integer::parseInt, problems)
                .ifPresent(b::topicPartitions);
        convert(flags.kubernetes, "--kubernetes", KubernetesMode::parse, problems)
                .ifPresent(b::kubernetes);
        convert(flags.commitInterval, "--commit-interval", AggregatorConfig::parseDuration, problems)
                .ifPresent(b::commitInterval);
        convert(flags.dedupRetention, "--dedup-retention", AggregatorConfig::parseDuration, problems)
                .ifPresent(b::dedupRetention);
        List<IdentityResolver.Signal> precedence = convert(flags.identityPrecedence, "--identity-precedence",
                IdentityResolver::parsePrecedence, problems).orElse(null);
        Duration syncTimeout = convert(flags.kubernetesSyncTimeout, "--kubernetes-sync-timeout",
                AggregatorConfig::parseDuration, problems).orElse(null);
        Duration retention = convert(flags.podTombstoneRetention, "--pod-tombstone-retention",
                AggregatorConfig::parseDuration, problems).orElse(null);
        Path aliases = null;
        if (flags.apiKeyAliases != null && !flags.apiKeyAliases.isBlank()) {
            aliases = Path.of(flags.apiKeyAliases);
            if (!java.nio.file.Files.isReadable(aliases)) {
                problems.add("--api-key-aliases names a file that can't be read: " + aliases);
            }
        }
        if (precedence != null && syncTimeout != null && retention != null) {
            problems.addAll(Identity.problems(precedence, syncTimeout, retention));
            if (problems.isEmpty()) {
                b.identity(new Identity(list(flags.watchNamespaces), list(flags.podLabels), precedence, aliases,
                        syncTimeout, retention));
            }
        }
        convert(flags.modelSeriesCap, "--model-series-cap", Integer::parseInt, problems)
                .ifPresent(b::modelSeriesCap);
        if (b.modelSeriesCap < 1) {
            problems.add("--model-series-cap must be at least 1, got " + b.modelSeriesCap);
        }
        convert(flags.clientSeriesCap, "--client-series-cap", Integer::parseInt, problems)
                .ifPresent(b::clientSeriesCap);
        if (b.clientSeriesCap < 1) {
            problems.add("--client-series-cap must be at least 1, got " + b.clientSeriesCap);
        }
        problems.addAll(problems(b.kafka, b.topic, b.listen, b.port, b.stateDir, b.applicationId, b.streamThreads,
                b.topicPartitions, b.kubernetes, b.commitInterval, b.kafkaProperties));
        problems.addAll(dedupProblems(b.dedupRetention));
        problems.addAll(topicProblems(b.topic, b.enrichedTopic, b.dlqTopic));
        if (flags.tokenFile != null && !flags.tokenFile.isBlank()) {
            try {
                b.token(java.nio.file.Files.readString(Path.of(flags.tokenFile.strip())).strip());
            } catch (java.io.IOException | RuntimeException e) {
                problems.add("--token-file cannot be read: " + flags.tokenFile);
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(message(problems));
        }
        return b.build();
    }

    /** {@code a, b,c} as [a, b, c]; blank for none. */
    static List<String> list(String text) {
        List<String> items = new ArrayList<>();
        if (text != null) {
            for (String part : text.split(",")) {
                if (!part.isBlank()) {
                    items.add(part.trim());
                }
            }
        }
        return items;
    }

    /** The Kafka properties named by {@value #KAFKA_ENV_PREFIX} variables: {@code _} becomes {@code .}. */
    static Map<String, String> kafkaPropertiesFrom(Map<String, String> env) {
        Map<String, String> props = new TreeMap<>();
        env.forEach((name, value) -> {
            if (name.startsWith(KAFKA_ENV_PREFIX) && name.length() > KAFKA_ENV_PREFIX.length()) {
                props.put(name.substring(KAFKA_ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.'),
                        value);
            }
        });
        return props;
    }

    /** {@code 250ms}, {@code 2s}, {@code 1m}, {@code 24h}, a bare number of milliseconds, or ISO-8601 ({@code PT0.5S}). */
    static Duration parseDuration(String text) {
        Matcher m = Pattern.compile("(\\d+)\\s*(ms|s|m|h)?").matcher(text.trim());
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            String unit = m.group(2) == null ? "ms" : m.group(2);
            return switch (unit) {
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofMillis(n);
            };
        }
        try {
            return Duration.parse(text.trim());
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException("not a duration (try 100ms, 2s, 1m)");
        }
    }

    private static List<String> problems(String kafka, String topic, String listen, int port, Path stateDir,
                                         String applicationId, int streamThreads, int topicPartitions,
                                         KubernetesMode kubernetes, Duration commitInterval,
                                         Map<String, String> kafkaProperties) {
        List<String> problems = new ArrayList<>();
        if (kafka == null || kafka.isBlank()) {
            problems.add("--kafka must name the bootstrap servers (host:port,…)");
        }
        if (topic == null || !KAFKA_NAME.matcher(topic).matches() || topic.equals(".") || topic.equals("..")) {
            problems.add("--topic must be a Kafka topic name (letters, digits, '.', '_', '-'), got '" + topic + "'");
        }
        if (listen == null || listen.isBlank()) {
            problems.add("--listen must be an address to bind");
        }
        if (port < 0 || port > 65535) {
            problems.add("--port must be 0..65535, got " + port);
        }
        if (stateDir == null) {
            problems.add("--state-dir must be set");
        }
        if (applicationId == null || !KAFKA_NAME.matcher(applicationId).matches()) {
            problems.add("--application-id must be letters, digits, '.', '_', '-', got '" + applicationId + "'");
        }
        if (streamThreads < 1) {
            problems.add("--stream-threads must be at least 1, got " + streamThreads);
        }
        if (topicPartitions < 1) {
            problems.add("--topic-partitions must be at least 1, got " + topicPartitions);
        }
        if (kubernetes == null) {
            problems.add("--kubernetes must be auto or off");
        }
        if (commitInterval == null || commitInterval.isNegative()) {
            problems.add("--commit-interval must be zero or more, got " + commitInterval);
        }
        kafkaProperties.forEach((key, value) -> {
            if (key == null || key.isBlank() || value == null) {
                problems.add("Kafka property '" + key + "' must have a name and a value");
            }
        });
        return problems;
    }

    private static List<String> topicProblems(String usage, String enriched, String dlq) {
        List<String> problems = new ArrayList<>();
        for (String[] written : new String[][] {{"--enriched-topic", enriched}, {"--dlq-topic", dlq}}) {
            String name = written[1];
            if (name == null || !KAFKA_NAME.matcher(name).matches() || name.equals(".") || name.equals("..")) {
                problems.add(written[0] + " must be a Kafka topic name (letters, digits, '.', '_', '-'), got '"
                        + name + "'");
            } else if (name.equals(usage)) {
                problems.add(written[0] + " must not be the usage topic it reads, '" + usage + "'");
            }
        }
        if (enriched != null && enriched.equals(dlq)) {
            problems.add("--enriched-topic and --dlq-topic must differ, both are '" + enriched + "'");
        }
        return problems;
    }

    private static List<String> dedupProblems(Duration dedupRetention) {
        // shorter than a broker outage plus a spool replay would count replayed events twice
        return dedupRetention.compareTo(Duration.ofMinutes(1)) < 0
                ? List.of("--dedup-retention must be at least 1m, got " + dedupRetention) : List.of();
    }

    private static String message(List<String> problems) {
        return "invalid aggregator configuration: " + String.join("; ", problems);
    }

    private static <T> Optional<T> convert(String text, String flag, Function<String, T> parse,
                                                     List<String> problems) {
        try {
            return Optional.of(parse.apply(text));
        } catch (IllegalArgumentException | NullPointerException e) {
            String why = e instanceof NumberFormatException ? "not a number" : e.getMessage();
            problems.add(flag + " has a bad value '" + text + "'" + (why == null ? "" : ": " + why));
            return Optional.empty();
        }
    }

    /** Thrown by {@link #fromArgs} for {@code --help} or {@code --version}; the message is what to print. */
    public static final class HelpRequested extends RuntimeException {
        HelpRequested(String text) {
            super(text, null, false, false);
        }
    }

    /** Builds an {@link AggregatorConfig} from the defaults; {@link #build()} validates. */
    public static final class Builder {
        private String kafka = DEFAULT_KAFKA;
        private String topic = DEFAULT_TOPIC;
        private String enrichedTopic = DEFAULT_ENRICHED_TOPIC;
        private String dlqTopic = DEFAULT_DLQ_TOPIC;
        private String listen = DEFAULT_LISTEN;
        private int port = DEFAULT_PORT;
        private Path stateDir = Path.of(DEFAULT_STATE_DIR);
        private String applicationId = DEFAULT_APPLICATION_ID;
        private int streamThreads = DEFAULT_STREAM_THREADS;
        private int topicPartitions = DEFAULT_TOPIC_PARTITIONS;
        private KubernetesMode kubernetes = KubernetesMode.AUTO;
        private Duration commitInterval = DEFAULT_COMMIT_INTERVAL;
        private Identity identity = Identity.DEFAULT;
        private int modelSeriesCap = DEFAULT_MODEL_SERIES_CAP;
        private int clientSeriesCap = DEFAULT_CLIENT_SERIES_CAP;
        private Duration dedupRetention = DEFAULT_DEDUP_RETENTION;
        private String token;
        private final Map<String, String> kafkaProperties = new LinkedHashMap<>();

        private Builder() {
        }

        public Builder kafka(String v) { kafka = v; return this; }
        public Builder topic(String v) { topic = v; return this; }
        public Builder enrichedTopic(String v) { enrichedTopic = v; return this; }
        public Builder dlqTopic(String v) { dlqTopic = v; return this; }
        public Builder listen(String v) { listen = v; return this; }
        public Builder port(int v) { port = v; return this; }
        public Builder stateDir(Path v) { stateDir = v; return this; }
        public Builder applicationId(String v) { applicationId = v; return this; }
        public Builder streamThreads(int v) { streamThreads = v; return this; }
        public Builder topicPartitions(int v) { topicPartitions = v; return this; }
        public Builder kubernetes(KubernetesMode v) { kubernetes = v; return this; }
        public Builder commitInterval(Duration v) { commitInterval = v; return this; }
        public Builder identity(Identity v) { identity = v; return this; }
        public Builder modelSeriesCap(int v) { modelSeriesCap = v; return this; }
        public Builder clientSeriesCap(int v) { clientSeriesCap = v; return this; }
        public Builder dedupRetention(Duration v) { dedupRetention = v; return this; }
        public Builder token(String v) { token = v; return this; }

        /** Adds Kafka / Kafka Streams properties; later calls win for the same name. */
        public Builder kafkaProperties(Map<String, String> v) {
            kafkaProperties.putAll(Objects.requireNonNull(v));
            return this;
        }

        public Builder kafkaProperty(String name, String value) {
            kafkaProperties.put(name, value);
            return this;
        }

        public AggregatorConfig build() {
            return new AggregatorConfig(kafka, topic, enrichedTopic, dlqTopic, listen, port, stateDir, applicationId, streamThreads,
                    topicPartitions, kubernetes, commitInterval, identity, kafkaProperties, modelSeriesCap,
                    clientSeriesCap, dedupRetention, token);
        }
    }

    /** Flags as picocli reads them: strings, converted by {@link #fromArgs} so every bad value is reported. */
    @Command(name = "aggregator", mixinStandardHelpOptions = true, version = "tokentap aggregator",
            sortOptions = false, usageHelpWidth = 110,
            description = "Totals tokentap usage events from Kafka and serves them to Prometheus.",
            footer = {"", "Every flag can also be set by the environment variable shown; the flag wins.",
                    "Any Kafka / Kafka Streams property can be passed as " + KAFKA_ENV_PREFIX
                            + "<PROPERTY_WITH_UNDERSCORES>,",
                    "e.g. " + KAFKA_ENV_PREFIX + "SECURITY_PROTOCOL=SSL."})
    static final class Flags {
        @Option(names = "--kafka", paramLabel = "HOST:PORT,…", defaultValue = DEFAULT_KAFKA,
                description = "Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS; default ${DEFAULT-VALUE})")
        String kafka;

        @Option(names = "--topic", paramLabel = "NAME", defaultValue = DEFAULT_TOPIC,
                description = "usage topic to read (env TOKENTAP_TOPIC; default ${DEFAULT-VALUE})")
        String topic;

        @Option(names = "--enriched-topic", paramLabel = "NAME", defaultValue = DEFAULT_ENRICHED_TOPIC,
                description = "topic the enriched records go to; give each usage topic its own "
                        + "(env TOKENTAP_ENRICHED_TOPIC; default ${DEFAULT-VALUE})")
        String enrichedTopic;

        @Option(names = "--dlq-topic", paramLabel = "NAME", defaultValue = DEFAULT_DLQ_TOPIC,
                description = "topic undecodable usage records go to; give each usage topic its own "
                        + "(env TOKENTAP_DLQ_TOPIC; default ${DEFAULT-VALUE})")
        String dlqTopic;

        @Option(names = "--listen", paramLabel = "ADDRESS", defaultValue = DEFAULT_LISTEN,
                description = "HTTP bind address (env TOKENTAP_LISTEN; default ${DEFAULT-VALUE})")
        String listen;

        @Option(names = "--port", paramLabel = "PORT", defaultValue = "" + DEFAULT_PORT,
                description = "HTTP port for /metrics, /healthz, /readyz, /api/v1/usage; 0 picks a free one "
                        + "(env TOKENTAP_PORT; default ${DEFAULT-VALUE})")
        String port;

        @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = DEFAULT_STATE_DIR,
                description = "Kafka Streams state directory; keep it across restarts "
                        + "(env TOKENTAP_STATE_DIR; default ${DEFAULT-VALUE})")
        String stateDir;

        @Option(names = "--application-id", paramLabel = "ID", defaultValue = DEFAULT_APPLICATION_ID,
                description = "Kafka Streams application id (env TOKENTAP_APPLICATION_ID; default ${DEFAULT-VALUE})")
        String applicationId;

        @Option(names = "--stream-threads", paramLabel = "N", defaultValue = "" + DEFAULT_STREAM_THREADS,
                description = "Kafka Streams threads (env TOKENTAP_STREAM_THREADS; default ${DEFAULT-VALUE})")
        String streamThreads;

        @Option(names = "--topic-partitions", paramLabel = "N", defaultValue = "" + DEFAULT_TOPIC_PARTITIONS,
                description = "partitions when creating a missing usage or dead-letter topic "
                        + "(env TOKENTAP_TOPIC_PARTITIONS; default ${DEFAULT-VALUE})")
        String topicPartitions;

        @Option(names = "--kubernetes", paramLabel = "auto|off", defaultValue = "auto",
                description = "resolve callers to pods: auto (in-cluster or kubeconfig if present) or off "
                        + "(env TOKENTAP_KUBERNETES; default ${DEFAULT-VALUE})")
        String kubernetes;

        @Option(names = "--commit-interval", paramLabel = "DURATION", defaultValue = "100ms",
                description = "Kafka Streams commit interval, e.g. 100ms, 1s "
                        + "(env TOKENTAP_COMMIT_INTERVAL; default ${DEFAULT-VALUE})")
        String commitInterval;

        @Option(names = "--watch-namespaces", paramLabel = "NS,…", defaultValue = "",
                description = "namespaces whose pods identify callers; empty for all "
                        + "(env TOKENTAP_WATCH_NAMESPACES; default all)")
        String watchNamespaces;

        @Option(names = "--pod-labels", paramLabel = "LABEL,…", defaultValue = "",
                description = "pod labels to carry into the enriched record, e.g. app,team "
                        + "(env TOKENTAP_POD_LABELS; default none)")
        String podLabels;

        @Option(names = "--identity-precedence", paramLabel = "SIGNAL,…",
                defaultValue = "workload,api_key,tenant,address",
                description = "what names a client, first present wins: workload (Kubernetes), api_key (alias), "
                        + "tenant (header, from a trusted gateway), address "
                        + "(env TOKENTAP_IDENTITY_PRECEDENCE; default ${DEFAULT-VALUE})")
        String identityPrecedence;

        @Option(names = "--api-key-aliases", paramLabel = "FILE", defaultValue = "",
                description = "file mapping api_key_id to a client name: lines '<api_key_id> <name>' or a JSON "
                        + "object (env TOKENTAP_API_KEY_ALIASES; default none)")
        String apiKeyAliases;

        @Option(names = "--kubernetes-sync-timeout", paramLabel = "DURATION", defaultValue = "30s",
                description = "how long /readyz waits for the pod directory's first sync before serving "
                        + "address-only identity (env TOKENTAP_KUBERNETES_SYNC_TIMEOUT; default ${DEFAULT-VALUE})")
        String kubernetesSyncTimeout;

        @Option(names = "--pod-tombstone-retention", paramLabel = "DURATION", defaultValue = "10m",
                description = "how long a deleted pod still names the events it sent before "
                        + "(env TOKENTAP_POD_TOMBSTONE_RETENTION; default ${DEFAULT-VALUE})")
        String podTombstoneRetention;
        @Option(names = "--model-series-cap", paramLabel = "N", defaultValue = "" + DEFAULT_MODEL_SERIES_CAP,
                description = "distinct model label values admitted per stream task, kept across restarts; "
                        + "later models are counted as model=\"other\" (env TOKENTAP_MODEL_SERIES_CAP; "
                        + "default ${DEFAULT-VALUE})")
        String modelSeriesCap;

        @Option(names = "--client-series-cap", paramLabel = "N", defaultValue = "" + DEFAULT_CLIENT_SERIES_CAP,
                description = "distinct client_name label values admitted per stream task, kept across restarts; "
                        + "later clients are counted as client_name=\"other\" (env TOKENTAP_CLIENT_SERIES_CAP; "
                        + "default ${DEFAULT-VALUE})")
        String clientSeriesCap;

        @Option(names = "--dedup-retention", paramLabel = "DURATION", defaultValue = "24h",
                description = "how long an event_id is remembered so that a replayed or re-sent copy is not "
                        + "counted again, by the aggregator's clock from the first copy, whatever the proxy's "
                        + "(env TOKENTAP_DEDUP_RETENTION; default ${DEFAULT-VALUE})")
        String dedupRetention;

        @Option(names = "--token-file", paramLabel = "FILE", defaultValue = "",
                description = "file holding a bearer token that /metrics and /api/v1/usage require; /healthz and "
                        + "/readyz stay open (env TOKENTAP_TOKEN_FILE; default none)")
        String tokenFile;
    }

    /** Supplies a flag's value from its environment variable when the flag is not given. */
    private static final class EnvDefaults implements CommandLine.IDefaultValueProvider {
        private static final Map<String, String> ENV_BY_FLAG = Map.ofEntries(
                Map.entry("--kafka", "KAFKA_BOOTSTRAP_SERVERS"),
                Map.entry("--topic", "TOKENTAP_TOPIC"),
                Map.entry("--enriched-topic", "TOKENTAP_ENRICHED_TOPIC"),
                Map.entry("--dlq-topic", "TOKENTAP_DLQ_TOPIC"),
                Map.entry("--listen", "TOKENTAP_LISTEN"),
                Map.entry("--port", "TOKENTAP_PORT"),
                Map.entry("--state-dir", "TOKENTAP_STATE_DIR"),
                Map.entry("--application-id", "TOKENTAP_APPLICATION_ID"),
                Map.entry("--stream-threads", "TOKENTAP_STREAM_THREADS"),
                Map.entry("--topic-partitions", "TOKENTAP_TOPIC_PARTITIONS"),
                Map.entry("--kubernetes", "TOKENTAP_KUBERNETES"),
                Map.entry("--commit-interval", "TOKENTAP_COMMIT_INTERVAL"),
                Map.entry("--watch-namespaces", "TOKENTAP_WATCH_NAMESPACES"),
                Map.entry("--pod-labels", "TOKENTAP_POD_LABELS"),
                Map.entry("--identity-precedence", "TOKENTAP_IDENTITY_PRECEDENCE"),
                Map.entry("--api-key-aliases", "TOKENTAP_API_KEY_ALIASES"),
                Map.entry("--kubernetes-sync-timeout", "TOKENTAP_KUBERNETES_SYNC_TIMEOUT"),
                Map.entry("--pod-tombstone-retention", "TOKENTAP_POD_TOMBSTONE_RETENTION"),
                Map.entry("--model-series-cap", "TOKENTAP_MODEL_SERIES_CAP"),
                Map.entry("--client-series-cap", "TOKENTAP_CLIENT_SERIES_CAP"),
                Map.entry("--dedup-retention", "TOKENTAP_DEDUP_RETENTION"),
                Map.entry("--token-file", "TOKENTAP_TOKEN_FILE"));

        private final Map<String, String> env;

        EnvDefaults(Map<String, String> env) {
            this.env = Objects.requireNonNull(env, "env");
        }

        @Override
        public String defaultValue(ArgSpec arg) {
            if (arg instanceof OptionSpec option) {
                String var = ENV_BY_FLAG.get(option.longestName());
                String value = var == null ? null : env.get(var);
                if (value != null && !value.isBlank()) {
                    return value;
                }
            }
            return null; // the annotation's default
        }
    }
}
