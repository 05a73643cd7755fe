package dev.tokentap.proxy;

import dev.tokentap.event.Topics;
import dev.tokentap.proxy.http.TrustedProxies;
import dev.tokentap.proxy.publish.SpoolingUsagePublisher;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.net.UnknownHostException;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/**
 * Everything tap-proxy is told at start-up: flags, each with an environment variable (the flag wins). Built by
 * {@link #fromArgs}; the all-in-one launcher uses {@link #builder}. The compact constructor reports every problem
 * in one {@link IllegalArgumentException}.
 *
 * @param upstream          base URL of the vLLM server every request is forwarded to
 * @param kafkaBootstrap    Kafka bootstrap servers
 * @param topic             the usage topic
 * @param listenHost        address both servers bind to
 * @param port              proxy port (0 picks a free one)
 * @param adminPort         admin port for {@code /metrics}, {@code /healthz}, {@code /readyz} (0 picks a free one)
 * @param connectTimeout    how long to wait for a connection to the upstream
 * @param upstreamTimeout   how long the upstream may stay silent (before headers or between body bytes)
 * @param apiKeyHashSecret  secret for {@code api_key_id}; null means a random one per process
 * @param tenantHeader      request header holding the tenant, or null; believed only from {@code trustedProxies}
 * @param proxyHost         this proxy's host name, for {@code proxy_host} and {@code ce_source}
 * @param publishQueue      capacity of the queue of events waiting for Kafka
 * @param kafkaProperties   extra Kafka producer properties ({@code TOKENTAP_KAFKA_*})
 * @param continuousUsage   whether a stream the proxy asks usage for also asks for {@code continuous_usage_stats},
 *                          so that a stream that ends early still has its usage so far
 * @param spool             where events wait on disk for Kafka; null publishes from memory only (tests)
 * @param drainTimeout      on shutdown, how long requests in flight may take to finish before they are cut
 * @param adminListen       address the admin port binds to; null for {@code listenHost}
 * @param adminToken        bearer token {@code /metrics} requires; null for none
 * @param maxRequestBytes   largest request body the proxy forwards; a larger one is answered 413
 * @param trustedProxies    peers whose {@code X-Forwarded-For} names the client; none by default
 * @param clientIdleTimeout how long a client connection may be silent while the proxy waits to read from it
 *                          (a stalled request line or headers, a stalled body, an idle keep-alive connection)
 * @param clientHeaderTimeout   longest time a client may take to send a request's line and headers, counted from
 *                              the connection's accept for its first request and from the first byte for later ones
 * @param maxHeaderBytes        largest request line and headers accepted; more is answered 431
 * @param clientMinRequestRate  bytes per second below which a request body being read is cut; 0 for no minimum
 * @param maxThreads            threads of the proxy port's pool, shared with the upstream client; 0 for
 *                              {@link #defaultMaxThreads()}
 * @param requestMemoryBudget   bytes all request bodies held in the proxy at once may take; a body that would pass
 *                              it is answered 503; at least {@code maxRequestBytes}
 */
public record TapProxyConfig(
        URI upstream,
        String kafkaBootstrap,
        String topic,
        String listenHost,
        int port,
        int adminPort,
        Duration connectTimeout,
        Duration upstreamTimeout,
        String apiKeyHashSecret,
        String tenantHeader,
        String proxyHost,
        int publishQueue,
        Map<String, String> kafkaProperties,
        boolean continuousUsage,
        Spool spool,
        Duration drainTimeout,
        String adminListen,
        String adminToken,
        long maxRequestBytes,
        TrustedProxies trustedProxies,
        Duration clientIdleTimeout,
        Duration clientHeaderTimeout,
        int maxHeaderBytes,
        long clientMinRequestRate,
        int maxThreads,
        long requestMemoryBudget) {

    /**
     * The disk spool.
     *
     * @param dir          the spool's directory; one proxy per directory
     * @param maxBytes     the cap: events beyond it are dropped and counted
     * @param writeTimeout how long the end of a response waits for its event to be written to the spool's file;
     *                     past it the response ends and the event is written later
     */
    public record Spool(Path dir, long maxBytes, Duration writeTimeout) {
        public static final String DEFAULT_DIR = "./tokentap-spool";
        public static final long DEFAULT_MAX_BYTES = 1L << 30;

        public Spool {
            if (dir == null) {
                throw new IllegalArgumentException("--spool-dir must be set");
            }
            if (maxBytes < 1 << 20) {
                throw new IllegalArgumentException("--spool-max-bytes must be at least 1048576 (1 MiB), got "
                        + maxBytes);
            }
            writeTimeout = writeTimeout == null ? SpoolingUsagePublisher.DEFAULT_WRITE_TIMEOUT : writeTimeout;
            if (writeTimeout.toMillis() < 1) {
                throw new IllegalArgumentException("--spool-write-timeout must be at least 1ms, got "
                        + writeTimeout);
            }
        }

        /** A spool whose responses wait at most {@link SpoolingUsagePublisher#DEFAULT_WRITE_TIMEOUT}. */
        public Spool(Path dir, long maxBytes) {
            this(dir, maxBytes, null);
        }
    }

    public static final String DEFAULT_KAFKA = "localhost:9092";
    public static final String DEFAULT_LISTEN = "0.0.0.0";
    public static final int DEFAULT_PORT = 3000;
    public static final int DEFAULT_ADMIN_PORT = 3001;
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    public static final Duration DEFAULT_UPSTREAM_TIMEOUT = Duration.ofSeconds(600);
    public static final int DEFAULT_PUBLISH_QUEUE = 100_000;
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);
    public static final long DEFAULT_MAX_REQUEST_BYTES = 32L << 20;
    /**
     * One body of the largest size at a time, the third of the image's 96 MiB heap that the proxy's own live data
     * (some 20 MiB with hundreds of streams) and the young generation leave free (docs/operations.md).
     */
    public static final long DEFAULT_REQUEST_MEMORY_BUDGET = 32L << 20;
    public static final Duration DEFAULT_CLIENT_IDLE_TIMEOUT = Duration.ofSeconds(300);
    public static final Duration DEFAULT_CLIENT_HEADER_TIMEOUT = Duration.ofSeconds(10);
    /** Jetty's own default. */
    public static final int DEFAULT_MAX_HEADER_BYTES = 8 * 1024;
    /** Headers cannot be read into less; a smaller limit would refuse ordinary clients. */
    static final int MIN_HEADER_BYTES = 1024;
    /** The largest buffer Jetty's parser is given; a limit beyond it could not be reached anyway. */
    static final int MAX_HEADER_BYTES = 1 << 20;
    /** Acceptor, selectors of the server and of the upstream client, and a few threads left to run requests. */
    static final int MIN_THREADS = 8;
    /** Environment variables with this prefix become Kafka producer properties. */
    public static final String KAFKA_ENV_PREFIX = "TOKENTAP_KAFKA_";

    private static final Pattern TOPIC = Pattern.compile("[a-zA-Z0-9._-]{1,249}");
    private static final Pattern HEADER_NAME = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");

    public TapProxyConfig {
        kafkaProperties = kafkaProperties == null ? Map.of() : Map.copyOf(new TreeMap<>(kafkaProperties));
        drainTimeout = drainTimeout == null ? DEFAULT_DRAIN_TIMEOUT : drainTimeout;
        trustedProxies = trustedProxies == null ? TrustedProxies.NONE : trustedProxies;
        clientIdleTimeout = clientIdleTimeout == null ? DEFAULT_CLIENT_IDLE_TIMEOUT : clientIdleTimeout;
        clientHeaderTimeout = clientHeaderTimeout == null ? DEFAULT_CLIENT_HEADER_TIMEOUT : clientHeaderTimeout;
        adminListen = adminListen == null || adminListen.isBlank() ? listenHost : adminListen;
        maxThreads = maxThreads == 0 ? defaultMaxThreads() : maxThreads;
        List<String> problems = problems(upstream, kafkaBootstrap, topic, listenHost, port, adminPort, connectTimeout,
                upstreamTimeout, apiKeyHashSecret, tenantHeader, proxyHost, publishQueue, kafkaProperties);
        if (drainTimeout.isNegative()) {
            problems.add("--drain-timeout must be zero or more, got " + drainTimeout);
        }
        if (clientIdleTimeout.isNegative() || clientIdleTimeout.isZero()) {
            problems.add("--client-idle-timeout must be a positive duration, got " + clientIdleTimeout);
        }
        problems.addAll(clientLimitProblems(clientHeaderTimeout, maxHeaderBytes, clientMinRequestRate));
        if (maxRequestBytes < 1) {
            problems.add("--max-request-bytes must be at least 1, got " + maxRequestBytes);
        }
        if (tenantHeader != null && trustedProxies.isEmpty()) {
            problems.add("--tenant-header is believed only from --trusted-proxies (the gateway that authenticated "
                    + "the caller), and none are set: any client could bill any tenant otherwise");
        }
        if (requestMemoryBudget < maxRequestBytes) {
            problems.add("--request-memory-budget must be at least --max-request-bytes (" + maxRequestBytes
                    + "), or a body the proxy accepts could never be held, got " + requestMemoryBudget);
        }
        if (maxThreads < MIN_THREADS) {
            problems.add("--max-threads must be at least " + MIN_THREADS + ", got " + maxThreads);
        }
        if (adminToken != null && adminToken.isBlank()) {
            problems.add("--admin-token-file must hold a token, the file is empty");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(message(problems));
        }
    }

    /**
     * The proxy is asynchronous: a thread runs a request only while there are bytes to move, and a stream waiting
     * for its next token holds none. A few threads per core keep the cores busy; more only cost memory (each
     * thread's stack and its buffers) after a burst, and Javalin's default of 250 grew to that many under 256
     * streams.
     */
    public static int defaultMaxThreads() {
        return Math.max(16, 4 * Runtime.getRuntime().availableProcessors());
    }

    private static List<String> clientLimitProblems(Duration headerTimeout, long maxHeaderBytes, long minRequestRate) {
        List<String> problems = new ArrayList<>();
        if (headerTimeout.isNegative() || headerTimeout.isZero()) {
            problems.add("--client-header-timeout must be a positive duration, got " + headerTimeout);
        }
        if (maxHeaderBytes < MIN_HEADER_BYTES || maxHeaderBytes > MAX_HEADER_BYTES) {
            problems.add("--max-header-bytes must be between " + MIN_HEADER_BYTES + " and " + MAX_HEADER_BYTES
                    + " (1 KiB to 1 MiB), got " + maxHeaderBytes);
        }
        if (minRequestRate < 0) {
            problems.add("--client-min-request-rate must be zero (no minimum) or more, got " + minRequestRate);
        }
        return problems;
    }

    private static String message(List<String> problems) {
        return "invalid configuration: " + String.join("; ", problems);
    }

    private static List<String> problems(URI upstream, String kafkaBootstrap, String topic, String listenHost,
                                         int port, int adminPort, Duration connectTimeout, Duration upstreamTimeout,
                                         String apiKeyHashSecret, String tenantHeader, String proxyHost,
                                         int publishQueue, Map<String, String> kafkaProperties) {
        List<String> problems = new ArrayList<>();
        if (upstream == null) {
            problems.add("--upstream is required (an http:// or https:// URL; env TOKENTAP_UPSTREAM)");
        } else if (!("http".equalsIgnoreCase(upstream.getScheme()) || "https".equalsIgnoreCase(upstream.getScheme()))
                || upstream.getHost() == null) {
            problems.add("--upstream must be an http:// or https:// URL with a host, got '" + upstream + "'");
        } else if (upstream.getRawQuery() != null || upstream.getRawFragment() != null) {
            problems.add("--upstream must not have a query or fragment, got '" + upstream + "'");
        }
        if (isBlank(kafkaBootstrap)) {
            problems.add("--kafka must not be blank");
        }
        if (topic == null || !TOPIC.matcher(topic).matches()) {
            problems.add("--topic must be a Kafka topic name ([a-zA-Z0-9._-], 1 to 249 characters), got '"
                    + topic + "'");
        }
        if (isBlank(listenHost)) {
            problems.add("--listen must not be blank");
        }
        checkPort(problems, "--port", port);
        checkPort(problems, "--admin-port", adminPort);
        if (port != 0 && port == adminPort) {
            problems.add("--port and --admin-port must differ, both are " + port);
        }
        checkPositive(problems, "--connect-timeout", connectTimeout);
        checkPositive(problems, "--upstream-timeout", upstreamTimeout);
        if (apiKeyHashSecret != null && apiKeyHashSecret.isEmpty()) {
            problems.add("--api-key-hash-secret must not be empty when set");
        }
        if (tenantHeader != null && !HEADER_NAME.matcher(tenantHeader).matches()) {
            problems.add("--tenant-header must be an HTTP header name, got '" + tenantHeader + "'");
        }
        if (isBlank(proxyHost)) {
            problems.add("--proxy-host must not be blank");
        }
        if (publishQueue < 1) {
            problems.add("--publish-queue must be at least 1, got " + publishQueue);
        }
        if (kafkaProperties != null) {
            for (String key : kafkaProperties.keySet()) {
                if (isBlank(key)) {
                    problems.add("Kafka property names from " + KAFKA_ENV_PREFIX + "* must not be blank");
                }
            }
        }
        return problems;
    }

    private static void checkPort(List<String> problems, String flag, int port) {
        if (port < 0 || port > 65_535) {
            problems.add(flag + " must be between 0 and 65535, got " + port);
        }
    }

    private static void checkPositive(List<String> problems, String flag, Duration duration) {
        if (duration == null || duration.isNegative() || duration.isZero()) {
            problems.add(flag + " must be a positive duration, got " + duration);
        }
    }

    private static boolean isBlank(String s) {
        return s == null || s.isBlank();
    }

    /** The upstream's authority ({@code host:port}), for the {@code upstream} field of events. */
    public String upstreamAuthority() {
        return upstream.getRawAuthority();
    }

    @Override
    public String toString() {
        // the secret must not reach a log line
        return "TapProxyConfig[upstream=" + upstream + ", kafkaBootstrap=" + kafkaBootstrap + ", topic=" + topic
                + ", listenHost=" + listenHost + ", port=" + port + ", adminPort=" + adminPort
                + ", connectTimeout=" + connectTimeout + ", upstreamTimeout=" + upstreamTimeout
                + ", apiKeyHashSecret=" + (apiKeyHashSecret == null ? "random" : "***")
                + ", tenantHeader=" + tenantHeader + ", proxyHost=" + proxyHost + ", publishQueue=" + publishQueue
                + ", kafkaProperties=" + kafkaProperties.keySet() + ", continuousUsage=" + continuousUsage
                + ", adminListen=" + adminListen + ", adminToken=" + (adminToken == null ? "none" : "***")
                + ", maxRequestBytes=" + maxRequestBytes + ", trustedProxies=" + trustedProxies
                + ", clientIdleTimeout=" + clientIdleTimeout + ", clientHeaderTimeout=" + clientHeaderTimeout
                + ", maxHeaderBytes=" + maxHeaderBytes + ", clientMinRequestRate=" + clientMinRequestRate
                + ", maxThreads=" + maxThreads + ", requestMemoryBudget=" + requestMemoryBudget + "]";
    }

    /** A builder with every default set and {@code proxyHost} resolved from this machine. */
    public static Builder builder(URI upstream) {
        return new Builder(upstream);
    }

    /** Thrown by {@link #fromArgs} for {@code --help}; carries the usage text. */
    public static final class HelpRequested extends RuntimeException {
        private final String usage;

        HelpRequested(String usage) {
            super("help requested", null, false, false);
            this.usage = usage;
        }

        public String usage() {
            return usage;
        }
    }

    /**
     * Reads flags and environment. Flags win over environment variables, which win over defaults;
     * {@code TOKENTAP_KAFKA_<NAME>} becomes the producer property {@code <name>} (lower case, {@code _} to
     * {@code .}).
     *
     * @throws IllegalArgumentException naming every problem found
     * @throws HelpRequested            for {@code --help}
     */
    public static TapProxyConfig fromArgs(String[] args, Map<String, String> env) {
        Cli cli = new Cli();
        CommandLine commandLine = new CommandLine(cli);
        commandLine.setDefaultValueProvider(argSpec -> defaultValue(argSpec, env));
        try {
            commandLine.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            throw new IllegalArgumentException("invalid configuration: " + e.getMessage()
                    + " (see --help)", e);
        }
        if (commandLine.isUsageHelpRequested()) {
            throw new HelpRequested(commandLine.getUsageMessage(CommandLine.Help.Ansi.OFF));
        }

        List<String> problems = new ArrayList<>();
        URI upstream = convert(problems, "--upstream", cli.upstream, TapProxyConfig::uri, null);
        int port = convert(problems, "--port", cli.port, Integer::parseInt, DEFAULT_PORT);
        int adminPort = convert(problems, "--admin-port", cli.adminPort, Integer::parseInt, DEFAULT_ADMIN_PORT);
        Duration connectTimeout = convert(problems, "--connect-timeout", cli.connectTimeout,
                TapProxyConfig::duration, DEFAULT_CONNECT_TIMEOUT);
        Duration upstreamTimeout = convert(problems, "--upstream-timeout", cli.upstreamTimeout,
                TapProxyConfig::duration, DEFAULT_UPSTREAM_TIMEOUT);
        int publishQueue = convert(problems, "--publish-queue", cli.publishQueue, Integer::parseInt,
                DEFAULT_PUBLISH_QUEUE);
        boolean continuousUsage = convert(problems, "--continuous-usage", cli.continuousUsage,
                TapProxyConfig::bool, true);
        String proxyHost = emptyToNull(cli.proxyHost);
        if (proxyHost == null) {
            proxyHost = emptyToNull(env.get("HOSTNAME"));
        }
        if (proxyHost == null) {
            proxyHost = localHostName();
        }
        String apiKeyHashSecret = emptyToNull(cli.apiKeyHashSecret);
        String secretFile = emptyToNull(cli.apiKeyHashSecretFile);
        if (secretFile != null) {
            if (apiKeyHashSecret != null) {
                problems.add("--api-key-hash-secret-file and --api-key-hash-secret are both set; give one");
            } else {
                // a file (a mounted Kubernetes Secret) keeps the secret out of the environment and process list
                try {
                    apiKeyHashSecret = java.nio.file.Files.readString(Path.of(secretFile)).strip();
                } catch (java.io.IOException | RuntimeException e) {
                    problems.add("--api-key-hash-secret-file cannot be read: " + secretFile);
                }
            }
        }
        String adminToken = null;
        if (emptyToNull(cli.adminTokenFile) != null) {
            try {
                adminToken = java.nio.file.Files.readString(Path.of(cli.adminTokenFile.strip())).strip();
            } catch (java.io.IOException | RuntimeException e) {
                problems.add("--admin-token-file cannot be read: " + cli.adminTokenFile);
            }
        }
        String tenantHeader = emptyToNull(cli.tenantHeader);
        Map<String, String> kafkaProperties = kafkaProperties(env);
        // a value that could not be read is reported once, not again as invalid
        List<String> unreadable = problems.stream().map(p -> p.split(" ", 2)[0]).toList();
        for (String problem : problems(upstream, cli.kafka, cli.topic, cli.listen, port, adminPort, connectTimeout,
                upstreamTimeout, apiKeyHashSecret, tenantHeader, proxyHost, publishQueue, kafkaProperties)) {
            if (!unreadable.contains(problem.split(" ", 2)[0])) {
                problems.add(problem);
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(message(problems));
        }
        Duration drainTimeout = convert(problems, "--drain-timeout", cli.drainTimeout, TapProxyConfig::duration,
                DEFAULT_DRAIN_TIMEOUT);
        long maxRequestBytes = convert(problems, "--max-request-bytes", cli.maxRequestBytes, TapProxyConfig::bytes,
                DEFAULT_MAX_REQUEST_BYTES);
        Duration clientIdleTimeout = convert(problems, "--client-idle-timeout", cli.clientIdleTimeout,
                TapProxyConfig::duration, DEFAULT_CLIENT_IDLE_TIMEOUT);
        Duration clientHeaderTimeout = convert(problems, "--client-header-timeout", cli.clientHeaderTimeout,
                TapProxyConfig::duration, DEFAULT_CLIENT_HEADER_TIMEOUT);
        long maxHeaderBytes = convert(problems, "--max-header-bytes", cli.maxHeaderBytes, TapProxyConfig::bytes,
                (long) DEFAULT_MAX_HEADER_BYTES);
        long clientMinRequestRate = convert(problems, "--client-min-request-rate", cli.clientMinRequestRate,
                TapProxyConfig::bytes, 0L);
        int maxThreads = convert(problems, "--max-threads", cli.maxThreads, Integer::parseInt, 0);
        long requestMemoryBudget = convert(problems, "--request-memory-budget", cli.requestMemoryBudget,
                TapProxyConfig::bytes, DEFAULT_REQUEST_MEMORY_BUDGET);
        // checked here too, so that a value out of range is reported with the unreadable ones, not after them
        List<String> unreadableLimits = problems.stream().map(p -> p.split(" ", 2)[0]).toList();
        for (String problem : clientLimitProblems(clientHeaderTimeout, maxHeaderBytes, clientMinRequestRate)) {
            if (!unreadableLimits.contains(problem.split(" ", 2)[0])) {
                problems.add(problem);
            }
        }
        TrustedProxies trustedProxies = TrustedProxies.NONE;
        try {
            trustedProxies = TrustedProxies.parse(cli.trustedProxies);
        } catch (IllegalArgumentException e) {
            problems.add("--trusted-proxies has " + e.getMessage());
        }
        Spool spool = null;
        if (!"none".equalsIgnoreCase(cli.spoolDir.strip())) {
            long maxBytes = convert(problems, "--spool-max-bytes", cli.spoolMaxBytes, Long::parseLong,
                    Spool.DEFAULT_MAX_BYTES);
            Duration writeTimeout = convert(problems, "--spool-write-timeout", cli.spoolWriteTimeout,
                    TapProxyConfig::duration, SpoolingUsagePublisher.DEFAULT_WRITE_TIMEOUT);
            try {
                spool = new Spool(Path.of(cli.spoolDir.strip()), maxBytes, writeTimeout);
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(message(problems));
        }
        return new TapProxyConfig(upstream, cli.kafka, cli.topic, cli.listen, port, adminPort, connectTimeout,
                upstreamTimeout, apiKeyHashSecret, tenantHeader, proxyHost, publishQueue, kafkaProperties,
                continuousUsage, spool, drainTimeout, emptyToNull(cli.adminListen), adminToken, maxRequestBytes,
                trustedProxies, clientIdleTimeout, clientHeaderTimeout,
                (int) Math.min(Integer.MAX_VALUE, maxHeaderBytes), clientMinRequestRate, maxThreads,
                requestMemoryBudget);
    }

    private static Boolean bool(String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on", "1" -> Boolean.TRUE;
            case "false", "no", "off", "0" -> Boolean.FALSE;
            default -> throw new IllegalArgumentException("not a boolean: " + value);
        };
    }

    /** The usage text of {@code --help}, with defaults as {@code env} would make them. */
    public static String usage(Map<String, String> env) {
        CommandLine commandLine = new CommandLine(new Cli());
        commandLine.setDefaultValueProvider(argSpec -> defaultValue(argSpec, env));
        return commandLine.getUsageMessage(CommandLine.Help.Ansi.OFF);
    }

    /** Producer properties from {@code TOKENTAP_KAFKA_*} variables. */
    static Map<String, String> kafkaProperties(Map<String, String> env) {
        Map<String, String> properties = new TreeMap<>();
        env.forEach((name, value) -> {
            if (name.startsWith(KAFKA_ENV_PREFIX) && name.length() > KAFKA_ENV_PREFIX.length()) {
                String key = name.substring(KAFKA_ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.');
                properties.put(key, value);
            }
        });
        return properties;
    }

    private static String defaultValue(ArgSpec argSpec, Map<String, String> env) {
        if (argSpec instanceof OptionSpec option) {
            String variable = ENV.get(option.longestName());
            if (variable != null) {
                String value = env.get(variable);
                if (value != null && !value.isEmpty()) {
                    return value;
                }
            }
        }
        return argSpec.defaultValue();
    }

    private static final Map<String, String> ENV = Map.ofEntries(
            Map.entry("--upstream", "TOKENTAP_UPSTREAM"),
            Map.entry("--kafka", "KAFKA_BOOTSTRAP_SERVERS"),
            Map.entry("--topic", "TOKENTAP_TOPIC"),
            Map.entry("--listen", "TOKENTAP_LISTEN"),
            Map.entry("--port", "TOKENTAP_PORT"),
            Map.entry("--admin-port", "TOKENTAP_ADMIN_PORT"),
            Map.entry("--connect-timeout", "TOKENTAP_CONNECT_TIMEOUT"),
            Map.entry("--upstream-timeout", "TOKENTAP_UPSTREAM_TIMEOUT"),
            Map.entry("--api-key-hash-secret", "TOKENTAP_API_KEY_HASH_SECRET"),
            Map.entry("--api-key-hash-secret-file", "TOKENTAP_API_KEY_HASH_SECRET_FILE"),
            Map.entry("--tenant-header", "TOKENTAP_TENANT_HEADER"),
            Map.entry("--proxy-host", "TOKENTAP_PROXY_HOST"),
            Map.entry("--publish-queue", "TOKENTAP_PUBLISH_QUEUE"),
            Map.entry("--continuous-usage", "TOKENTAP_CONTINUOUS_USAGE"),
            Map.entry("--spool-dir", "TOKENTAP_SPOOL_DIR"),
            Map.entry("--spool-max-bytes", "TOKENTAP_SPOOL_MAX_BYTES"),
            Map.entry("--spool-write-timeout", "TOKENTAP_SPOOL_WRITE_TIMEOUT"),
            Map.entry("--drain-timeout", "TOKENTAP_DRAIN_TIMEOUT"),
            Map.entry("--admin-listen", "TOKENTAP_ADMIN_LISTEN"),
            Map.entry("--admin-token-file", "TOKENTAP_ADMIN_TOKEN_FILE"),
            Map.entry("--max-request-bytes", "TOKENTAP_MAX_REQUEST_BYTES"),
            Map.entry("--trusted-proxies", "TOKENTAP_TRUSTED_PROXIES"),
            Map.entry("--client-idle-timeout", "TOKENTAP_CLIENT_IDLE_TIMEOUT"),
            Map.entry("--client-header-timeout", "TOKENTAP_CLIENT_HEADER_TIMEOUT"),
            Map.entry("--max-header-bytes", "TOKENTAP_MAX_HEADER_BYTES"),
            Map.entry("--client-min-request-rate", "TOKENTAP_CLIENT_MIN_REQUEST_RATE"),
            Map.entry("--max-threads", "TOKENTAP_MAX_THREADS"),
            Map.entry("--request-memory-budget", "TOKENTAP_REQUEST_MEMORY_BUDGET"));

    private static <T> T convert(List<String> problems, String flag, String value, Function<String, T> parse,
                                 T fallback) {
        if (value == null || value.isBlank()) {
            return fallback;
        }
        try {
            return Objects.requireNonNull(parse.apply(value.strip()));
        } catch (RuntimeException e) {
            problems.add(flag + " cannot be read from '" + value + "'");
            return fallback;
        }
    }

    private static URI uri(String value) {
        try {
            return new URI(value);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** Reads {@code 500ms}, {@code 5s}, {@code 10m}, {@code 1h}, an ISO-8601 duration, or plain seconds. */
    static Duration duration(String value) {
        String v = value.strip().toLowerCase(Locale.ROOT);
        try {
            if (v.startsWith("p")) {
                return Duration.parse(v.toUpperCase(Locale.ROOT));
            }
            if (v.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
            }
            if (v.endsWith("s")) {
                return Duration.ofSeconds(Long.parseLong(v.substring(0, v.length() - 1)));
            }
            if (v.endsWith("m")) {
                return Duration.ofMinutes(Long.parseLong(v.substring(0, v.length() - 1)));
            }
            if (v.endsWith("h")) {
                return Duration.ofHours(Long.parseLong(v.substring(0, v.length() - 1)));
            }
            return Duration.ofSeconds(Long.parseLong(v));
        } catch (NumberFormatException | DateTimeParseException e) {
            throw new IllegalArgumentException("not a duration: " + value, e);
        }
    }

    /** Reads a size: plain bytes, or a number with {@code KiB}, {@code MiB} or {@code GiB}. */
    static Long bytes(String value) {
        String v = value.strip();
        String lower = v.toLowerCase(Locale.ROOT);
        int shift = 0;
        if (lower.endsWith("kib")) {
            shift = 10;
        } else if (lower.endsWith("mib")) {
            shift = 20;
        } else if (lower.endsWith("gib")) {
            shift = 30;
        }
        long number = Long.parseLong((shift == 0 ? v : v.substring(0, v.length() - 3)).strip());
        if (number < 0 || number > (Long.MAX_VALUE >> shift)) {
            throw new IllegalArgumentException("size out of range: " + value);
        }
        return number << shift;
    }

    private static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    /** This machine's host name, or {@code localhost} when it has none. */
    static String localHostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }

    @Command(name = "tap-proxy", sortOptions = false, usageHelpWidth = 120,
            description = "Forwards every request to a vLLM server and publishes one usage event per "
                    + "completion to Kafka.",
            footer = {"", "Any Kafka producer property can be set as TOKENTAP_KAFKA_<PROPERTY_WITH_UNDERSCORES>,",
                    "e.g. TOKENTAP_KAFKA_SECURITY_PROTOCOL=SSL sets security.protocol."})
    static final class Cli {
        @Option(names = "--upstream", paramLabel = "URL",
                description = "vLLM base URL, e.g. http://localhost:8000 (required; env TOKENTAP_UPSTREAM)")
        String upstream;

        @Option(names = "--kafka", paramLabel = "SERVERS", defaultValue = DEFAULT_KAFKA,
                description = "Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS; default: ${DEFAULT-VALUE})")
        String kafka;

        @Option(names = "--topic", paramLabel = "NAME", defaultValue = Topics.USAGE,
                description = "usage topic (env TOKENTAP_TOPIC; default: ${DEFAULT-VALUE})")
        String topic;

        @Option(names = "--listen", paramLabel = "ADDRESS", defaultValue = DEFAULT_LISTEN,
                description = "address to bind (env TOKENTAP_LISTEN; default: ${DEFAULT-VALUE})")
        String listen;

        @Option(names = "--port", paramLabel = "PORT", defaultValue = "" + DEFAULT_PORT,
                description = "proxy port (env TOKENTAP_PORT; default: ${DEFAULT-VALUE})")
        String port;

        @Option(names = "--admin-port", paramLabel = "PORT", defaultValue = "" + DEFAULT_ADMIN_PORT,
                description = "admin port: /metrics, /healthz, /readyz (env TOKENTAP_ADMIN_PORT; "
                        + "default: ${DEFAULT-VALUE})")
        String adminPort;

        @Option(names = "--connect-timeout", paramLabel = "DURATION", defaultValue = "5s",
                description = "upstream connect timeout (env TOKENTAP_CONNECT_TIMEOUT; default: ${DEFAULT-VALUE})")
        String connectTimeout;

        @Option(names = "--upstream-timeout", paramLabel = "DURATION", defaultValue = "600s",
                description = "longest silence from the upstream, before headers or between bytes "
                        + "(env TOKENTAP_UPSTREAM_TIMEOUT; default: ${DEFAULT-VALUE})")
        String upstreamTimeout;

        @Option(names = "--api-key-hash-secret", paramLabel = "SECRET",
                description = "HMAC secret for api_key_id (env TOKENTAP_API_KEY_HASH_SECRET; "
                        + "default: random per process, so ids differ across restarts and replicas)")
        String apiKeyHashSecret;

        @Option(names = "--api-key-hash-secret-file", paramLabel = "FILE",
                description = "file holding the HMAC secret for api_key_id, e.g. a mounted Secret "
                        + "(env TOKENTAP_API_KEY_HASH_SECRET_FILE)")
        String apiKeyHashSecretFile;

        @Option(names = "--tenant-header", paramLabel = "HEADER",
                description = "request header naming the tenant, e.g. X-Tenant-Id, set by the gateway that "
                        + "authenticated the caller; believed only from --trusted-proxies, which it requires "
                        + "(env TOKENTAP_TENANT_HEADER)")
        String tenantHeader;

        @Option(names = "--proxy-host", paramLabel = "NAME",
                description = "this proxy's name in events (env TOKENTAP_PROXY_HOST; default: env HOSTNAME, "
                        + "else the local host name)")
        String proxyHost;

        @Option(names = "--publish-queue", paramLabel = "EVENTS", defaultValue = "" + DEFAULT_PUBLISH_QUEUE,
                description = "events held while Kafka is slow or away (env TOKENTAP_PUBLISH_QUEUE; "
                        + "default: ${DEFAULT-VALUE})")
        String publishQueue;

        @Option(names = "--continuous-usage", paramLabel = "true|false", defaultValue = "true",
                description = "when a streaming client sent no stream_options, ask vLLM for continuous_usage_stats "
                        + "as well as include_usage (and remove both from the client's view), so a stream that ends "
                        + "early is billed up to its last chunk; false asks for include_usage only "
                        + "(env TOKENTAP_CONTINUOUS_USAGE; default: ${DEFAULT-VALUE})")
        String continuousUsage;

        @Option(names = "--spool-dir", paramLabel = "DIR", defaultValue = Spool.DEFAULT_DIR,
                description = "directory where usage events wait on disk until Kafka has them; 'none' keeps them "
                        + "in memory only (env TOKENTAP_SPOOL_DIR; default: ${DEFAULT-VALUE})")
        String spoolDir;

        @Option(names = "--spool-max-bytes", paramLabel = "BYTES", defaultValue = "" + Spool.DEFAULT_MAX_BYTES,
                description = "cap of the spool; events beyond it are dropped and counted "
                        + "(env TOKENTAP_SPOOL_MAX_BYTES; default: ${DEFAULT-VALUE})")
        String spoolMaxBytes;

        @Option(names = "--spool-write-timeout", paramLabel = "DURATION", defaultValue = "1s",
                description = "longest a response's last bytes wait for its usage event to be written to the spool "
                        + "file (so that a killed proxy loses no answered request); past it the response ends and "
                        + "the event is written later (env TOKENTAP_SPOOL_WRITE_TIMEOUT; default: ${DEFAULT-VALUE})")
        String spoolWriteTimeout;

        @Option(names = "--drain-timeout", paramLabel = "DURATION", defaultValue = "30s",
                description = "on SIGTERM, how long requests in flight (streams too) may take to finish "
                        + "(env TOKENTAP_DRAIN_TIMEOUT; default: ${DEFAULT-VALUE})")
        String drainTimeout;

        @Option(names = "--admin-listen", paramLabel = "ADDRESS",
                description = "address of the admin port, e.g. 127.0.0.1 or a management network "
                        + "(env TOKENTAP_ADMIN_LISTEN; default: --listen)")
        String adminListen;

        @Option(names = "--admin-token-file", paramLabel = "FILE",
                description = "file holding a bearer token that /metrics requires; /healthz and /readyz stay open "
                        + "(env TOKENTAP_ADMIN_TOKEN_FILE; default: none)")
        String adminTokenFile;

        @Option(names = "--max-request-bytes", paramLabel = "SIZE", defaultValue = "32MiB",
                description = "largest request body forwarded, in bytes or with KiB, MiB, GiB; a larger one is "
                        + "answered 413 and nothing reaches the upstream (env TOKENTAP_MAX_REQUEST_BYTES; "
                        + "default: ${DEFAULT-VALUE})")
        String maxRequestBytes;

        @Option(names = "--request-memory-budget", paramLabel = "SIZE", defaultValue = "32MiB",
                description = "memory all request bodies held in the proxy at once may take (every body but a "
                        + "multipart upload is held until complete); one that would pass it is answered 503 with "
                        + "Retry-After and nothing reaches the upstream; at least --max-request-bytes, and well "
                        + "under the heap (env TOKENTAP_REQUEST_MEMORY_BUDGET; default: ${DEFAULT-VALUE})")
        String requestMemoryBudget;

        @Option(names = "--trusted-proxies", paramLabel = "CIDRS",
                description = "comma-separated addresses or CIDR ranges of load balancers or gateways whose "
                        + "X-Forwarded-For names the client, and whose --tenant-header names the tenant; from any "
                        + "other peer both are ignored "
                        + "(env TOKENTAP_TRUSTED_PROXIES; default: none)")
        String trustedProxies;

        @Option(names = "--client-idle-timeout", paramLabel = "DURATION", defaultValue = "300s",
                description = "longest silence from a client while the proxy waits to read from it: a stalled "
                        + "request line, headers or body, or an idle keep-alive connection; a client waiting for "
                        + "a slow response is not cut (env TOKENTAP_CLIENT_IDLE_TIMEOUT; default: ${DEFAULT-VALUE})")
        String clientIdleTimeout;

        @Option(names = "--client-header-timeout", paramLabel = "DURATION", defaultValue = "10s",
                description = "longest time a client may take to send a request line and headers, from the "
                        + "connection's accept (first request) or the request's first byte (later ones); then the "
                        + "connection is closed (env TOKENTAP_CLIENT_HEADER_TIMEOUT; default: ${DEFAULT-VALUE})")
        String clientHeaderTimeout;

        @Option(names = "--max-header-bytes", paramLabel = "SIZE", defaultValue = "8KiB",
                description = "largest request line and headers accepted, in bytes or with KiB, MiB; more is "
                        + "answered 431 (env TOKENTAP_MAX_HEADER_BYTES; default: ${DEFAULT-VALUE})")
        String maxHeaderBytes;

        @Option(names = "--client-min-request-rate", paramLabel = "SIZE", defaultValue = "0",
                description = "bytes per second, or KiB, MiB per second, below which a request body being read "
                        + "is cut (a client trickling its body); 0 for no minimum "
                        + "(env TOKENTAP_CLIENT_MIN_REQUEST_RATE; default: ${DEFAULT-VALUE})")
        String clientMinRequestRate;

        @Option(names = "--max-threads", paramLabel = "THREADS",
                description = "threads of the proxy port, shared with its upstream client; the proxy is "
                        + "asynchronous, so a stream waiting for tokens holds none (env TOKENTAP_MAX_THREADS; "
                        + "default: 4 per core, at least 16)")
        String maxThreads;

        @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help and exit")
        boolean help;
    }

    /** Builds a config in code, starting from the defaults. */
    public static final class Builder {
        private URI upstream;
        private String kafkaBootstrap = DEFAULT_KAFKA;
        private String topic = Topics.USAGE;
        private String listenHost = DEFAULT_LISTEN;
        private int port = DEFAULT_PORT;
        private int adminPort = DEFAULT_ADMIN_PORT;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private Duration upstreamTimeout = DEFAULT_UPSTREAM_TIMEOUT;
        private String apiKeyHashSecret;
        private String tenantHeader;
        private String proxyHost;
        private int publishQueue = DEFAULT_PUBLISH_QUEUE;
        private Map<String, String> kafkaProperties = Map.of();
        private boolean continuousUsage = true;
        private Spool spool;
        private Duration drainTimeout = DEFAULT_DRAIN_TIMEOUT;
        private String adminListen;
        private String adminToken;
        private long maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES;
        private TrustedProxies trustedProxies = TrustedProxies.NONE;
        private Duration clientIdleTimeout = DEFAULT_CLIENT_IDLE_TIMEOUT;
        private Duration clientHeaderTimeout = DEFAULT_CLIENT_HEADER_TIMEOUT;
        private int maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES;
        private long clientMinRequestRate;
        private int maxThreads;
        private long requestMemoryBudget = DEFAULT_REQUEST_MEMORY_BUDGET;

        private Builder(URI upstream) {
            this.upstream = upstream;
        }

        public Builder upstream(URI v) { upstream = v; return this; }
        public Builder kafkaBootstrap(String v) { kafkaBootstrap = v; return this; }
        public Builder topic(String v) { topic = v; return this; }
        public Builder listenHost(String v) { listenHost = v; return this; }
        public Builder port(int v) { port = v; return this; }
        public Builder adminPort(int v) { adminPort = v; return this; }
        public Builder connectTimeout(Duration v) { connectTimeout = v; return this; }
        public Builder upstreamTimeout(Duration v) { upstreamTimeout = v; return this; }
        public Builder apiKeyHashSecret(String v) { apiKeyHashSecret = v; return this; }
        public Builder tenantHeader(String v) { tenantHeader = v; return this; }
        public Builder proxyHost(String v) { proxyHost = v; return this; }
        public Builder publishQueue(int v) { publishQueue = v; return this; }
        public Builder kafkaProperties(Map<String, String> v) { kafkaProperties = v; return this; }
        public Builder continuousUsage(boolean v) { continuousUsage = v; return this; }
        /** The disk spool; without one (the builder's default) events wait in memory only. */
        public Builder spool(Spool v) { spool = v; return this; }
        public Builder drainTimeout(Duration v) { drainTimeout = v; return this; }
        public Builder adminListen(String v) { adminListen = v; return this; }
        public Builder adminToken(String v) { adminToken = v; return this; }
        public Builder maxRequestBytes(long v) { maxRequestBytes = v; return this; }
        public Builder trustedProxies(TrustedProxies v) { trustedProxies = v; return this; }
        public Builder clientIdleTimeout(Duration v) { clientIdleTimeout = v; return this; }
        public Builder clientHeaderTimeout(Duration v) { clientHeaderTimeout = v; return this; }
        public Builder maxHeaderBytes(int v) { maxHeaderBytes = v; return this; }
        public Builder clientMinRequestRate(long v) { clientMinRequestRate = v; return this; }
        public Builder maxThreads(int v) { maxThreads = v; return this; }
        public Builder requestMemoryBudget(long v) { requestMemoryBudget = v; return this; }

        public TapProxyConfig build() {
            return new TapProxyConfig(upstream, kafkaBootstrap, topic, listenHost, port, adminPort, connectTimeout,
                    upstreamTimeout, apiKeyHashSecret, tenantHeader,
                    proxyHost != null ? proxyHost : localHostName(), publishQueue, kafkaProperties, continuousUsage,
                    spool, drainTimeout, adminListen, adminToken, maxRequestBytes,
                    trustedProxies, clientIdleTimeout, clientHeaderTimeout, maxHeaderBytes, clientMinRequestRate,
                    maxThreads, requestMemoryBudget);
        }
    }
}
