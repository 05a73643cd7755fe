package dev.tokentap.testkit.kafka;

import dev.tokentap.testkit.io.Directories;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node Kafka broker (KRaft, broker and controller in one process) running inside this JVM.
 *
 * <p>It is Apache Kafka's own {@link KafkaRaftServer}, formatted the way {@code kafka-storage.sh format} does,
 * listening on 127.0.0.1 only. Tests use it through {@link KafkaExtension}; {@code tokentap run} uses it with
 * a persistent data directory and a fixed port, so a directory formatted by an earlier run is reused as is.
 *
 * <p>By default the client listener is PLAINTEXT with no authorization. {@link Builder#scramSha512} makes it
 * SASL/SCRAM-SHA-512 with ACLs enforced by Kafka's {@code StandardAuthorizer} (no ACL, no access), as a secured
 * production cluster runs; {@link #clientProperties()} then logs in as the super user, and
 * {@link #clientProperties(String, String)} as anyone else.
 *
 * <p>{@link #restart()} keeps the data directory and both ports, so clients reconnect to the same bootstrap
 * address. An in-process broker cannot really crash: {@link #stop()} is a clean shutdown, and {@link #kill()}
 * additionally throws away the clean-shutdown marker so the next start recovers the logs as after a crash.
 */
public final class EmbeddedKafka implements TestKafka {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);

    private static final String HOST = "127.0.0.1";
    private static final int NODE_ID = 1;
    private static final String CONTROLLER_LISTENER = "CONTROLLER";
    private static final String META_PROPERTIES = "meta.properties";
    // LogManager writes this on a clean shutdown; without it the next start runs log recovery
    private static final String CLEAN_SHUTDOWN_MARKER = ".kafka_cleanshutdown";
    /** The SASL mechanism of the client listener when secured: what Strimzi's {@code scram-sha-512} listener offers. */
    public static final String SCRAM_SHA_512 = "SCRAM-SHA-512";
    private static final String SASL_LISTENER = "SASL_PLAINTEXT";

    private final Path dataDir;
    private final boolean ownsDataDir;
    private final int port;
    private final int controllerPort;
    private final Map<String, String> brokerProperties;
    private final Credentials superUser;

    private KafkaRaftServer server;

    private EmbeddedKafka(Builder builder) {
        this.ownsDataDir = builder.dataDir == null;
        this.dataDir = ownsDataDir ? createTempDir() : builder.dataDir.toAbsolutePath();
        // ports are fixed once, here, so the bootstrap address is known before start and survives restarts
        this.port = builder.port == 0 ? freePort() : builder.port;
        this.controllerPort = builder.controllerPort == 0 ? freePort(port) : builder.controllerPort;
        this.brokerProperties = Map.copyOf(builder.brokerProperties);
        this.superUser = builder.superUser;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Starts the broker; returns when it is registered, unfenced and serving. Does nothing if already running. */
    @Override
    public synchronized EmbeddedKafka start() {
        if (server != null) {
            return this;
        }
        long started = System.nanoTime();
        try {
            Files.createDirectories(dataDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create kafka data dir " + dataDir, e);
        }
        KafkaConfig config = KafkaConfig.fromProps(serverProperties(), false);
        boolean formatted = formatIfNeeded();
        KafkaRaftServer candidate = new KafkaRaftServer(config, Time.SYSTEM);
        try {
            candidate.startup();
        } catch (RuntimeException e) {
            shutDown(candidate);
            throw new IllegalStateException("embedded kafka failed to start on " + bootstrapServers(), e);
        }
        server = candidate;
        LOG.info("embedded kafka started bootstrap={} dataDir={} formatted={} millis={}",
                bootstrapServers(), dataDir, formatted, (System.nanoTime() - started) / 1_000_000);
        return this;
    }

    /** Shuts the broker down cleanly and waits for it; the data directory and the ports stay reserved for a restart. */
    @Override
    public synchronized void stop() {
        if (server == null) {
            return;
        }
        long started = System.nanoTime();
        shutDown(server);
        server = null;
        LOG.info("embedded kafka stopped bootstrap={} millis={}", bootstrapServers(), (System.nanoTime() - started) / 1_000_000);
    }

    /**
     * The closest to a crash that an in-process broker allows: the broker still shuts down (its threads and
     * files must be released in this JVM), but its clean-shutdown marker is deleted, so the next start treats
     * the logs as after a crash and recovers them.
     */
    public synchronized void kill() {
        stop();
        try {
            Files.deleteIfExists(dataDir.resolve(CLEAN_SHUTDOWN_MARKER));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove clean-shutdown marker in " + dataDir, e);
        }
    }

    @Override
    public synchronized void restart() {
        stop();
        start();
    }

    @Override
    public synchronized boolean isRunning() {
        return server != null;
    }

    @Override
    public String bootstrapServers() {
        return HOST + ":" + port;
    }

    public int port() {
        return port;
    }

    public int controllerPort() {
        return controllerPort;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** Whether clients must log in with SASL/SCRAM and ACLs are enforced ({@link Builder#scramSha512}). */
    public boolean secured() {
        return superUser != null;
    }

    /** The super user's client properties when {@linkplain #secured() secured}, else just the bootstrap address. */
    @Override
    public Map<String, Object> clientProperties() {
        return secured() ? clientProperties(superUser.name(), superUser.password()) : TestKafka.super.clientProperties();
    }

    /**
     * Client properties that log in as {@code user} with {@code password} over SASL/SCRAM-SHA-512: what a client of
     * a secured cluster sets, e.g. through tokentap's {@code TOKENTAP_KAFKA_*} variables.
     */
    public Map<String, Object> clientProperties(String user, String password) {
        Map<String, Object> props = new LinkedHashMap<>(TestKafka.super.clientProperties());
        props.put("security.protocol", SASL_LISTENER);
        props.put("sasl.mechanism", SCRAM_SHA_512);
        props.put("sasl.jaas.config", scramJaasConfig(user, password));
        return props;
    }

    /** The {@code sasl.jaas.config} value of a SCRAM login, as Strimzi puts it in a KafkaUser's Secret. */
    public static String scramJaasConfig(String user, String password) {
        return "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"" + user
                + "\" password=\"" + password + "\";";
    }

    /** Stops the broker and deletes the data directory if this instance created it. */
    @Override
    public synchronized void close() {
        stop();
        if (ownsDataDir) {
            deleteRecursively(dataDir);
        }
    }

    Properties serverProperties() {
        Map<String, String> props = new LinkedHashMap<>();
        props.put("process.roles", "broker,controller");
        props.put("node.id", Integer.toString(NODE_ID));
        props.put("controller.quorum.voters", NODE_ID + "@" + HOST + ":" + controllerPort);
        String listener = secured() ? SASL_LISTENER : "PLAINTEXT";
        props.put("listeners", listener + "://" + HOST + ":" + port + "," + CONTROLLER_LISTENER + "://" + HOST + ":" + controllerPort);
        props.put("advertised.listeners", listener + "://" + HOST + ":" + port);
        props.put("listener.security.protocol.map", listener + ":" + listener + "," + CONTROLLER_LISTENER + ":" + listener);
        props.put("controller.listener.names", CONTROLLER_LISTENER);
        props.put("inter.broker.listener.name", listener);
        if (secured()) {
            props.putAll(securityProperties());
        }
        props.put("log.dirs", dataDir.toString());
        // one node: every internal topic must be satisfiable with one replica, or transactions (EOS) never work
        props.put("offsets.topic.replication.factor", "1");
        props.put("offsets.topic.num.partitions", "1");
        props.put("transaction.state.log.replication.factor", "1");
        props.put("transaction.state.log.min.isr", "1");
        props.put("transaction.state.log.num.partitions", "1");
        // The formatter enables transactions v2 (transaction.version=2): a commit returns once the coordinator has
        // logged PREPARE_COMMIT, and the markers are written after. Until they are, the next transaction's first
        // produce requests meet CONCURRENT_TRANSACTIONS; the broker retries that itself for this long before it
        // answers the producer, which then backs off 100 ms or more; meanwhile the broker rejects the batches sent
        // behind with OUT_OF_ORDER_SEQUENCE_NUMBER (after the epoch bump a partition has no sequence state and
        // takes only sequence 0), and those are retried too. The default, 100 ms, suits a broker whose markers take
        // milliseconds; on this machine, loaded and with two I/O threads, they took up to 600 ms, and an
        // exactly-once app's early commits took up to a second each.
        props.put("add.partitions.to.txn.retry.backoff.max.ms", "5000");
        props.put("share.coordinator.state.topic.replication.factor", "1");
        props.put("share.coordinator.state.topic.min.isr", "1");
        props.put("default.replication.factor", "1");
        props.put("min.insync.replicas", "1");
        props.put("num.partitions", "1");
        props.put("auto.create.topics.enable", "true");
        // consumer groups and Streams apps join at once instead of waiting 3 s for more members
        props.put("group.initial.rebalance.delay.ms", "0");
        // a 2-core machine runs several of these next to the code under test: few threads, small buffers
        props.put("num.network.threads", "2");
        props.put("num.io.threads", "2");
        props.put("background.threads", "2");
        props.put("num.recovery.threads.per.data.dir", "1");
        props.put("log.cleaner.threads", "1");
        props.put("log.cleaner.dedupe.buffer.size", Integer.toString(4 * 1024 * 1024));
        props.put("log.segment.bytes", Integer.toString(16 * 1024 * 1024));
        props.putAll(brokerProperties);
        Properties properties = new Properties();
        properties.putAll(props);
        return properties;
    }

    /**
     * Clients and the broker itself log in with SCRAM-SHA-512 on the client listener; the controller listener takes
     * PLAIN for the super user alone (KRaft cannot use SCRAM there: the credentials live in the metadata it serves).
     * Every request is authorized by the StandardAuthorizer; only the super user passes without an ACL.
     */
    private Map<String, String> securityProperties() {
        String scram = "listener.name." + SASL_LISTENER.toLowerCase(Locale.ROOT) + ".";
        String controller = "listener.name." + CONTROLLER_LISTENER.toLowerCase(Locale.ROOT) + ".";
        Map<String, String> props = new LinkedHashMap<>();
        props.put(scram + "sasl.enabled.mechanisms", SCRAM_SHA_512);
        props.put(scram + "scram-sha-512.sasl.jaas.config", scramJaasConfig(superUser.name(), superUser.password()));
        props.put("sasl.mechanism.inter.broker.protocol", SCRAM_SHA_512);
        props.put(controller + "sasl.enabled.mechanisms", "PLAIN");
        props.put(controller + "plain.sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required"
                + " username=\"" + superUser.name() + "\" password=\"" + superUser.password() + "\""
                + " user_" + superUser.name() + "=\"" + superUser.password() + "\";");
        props.put("sasl.mechanism.controller.protocol", "PLAIN");
        props.put("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
        props.put("super.users", "User:" + superUser.name());
        props.put("allow.everyone.if.no.acl.found", "false");
        return props;
    }

    private boolean formatIfNeeded() {
        if (Files.exists(dataDir.resolve(META_PROPERTIES))) {
            return false;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (PrintStream print = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            new Formatter()
                    .setPrintStream(print)
                    .setNodeId(NODE_ID)
                    .setClusterId(Uuid.randomUuid().toString())
                    .setControllerListenerName(CONTROLLER_LISTENER)
                    .setMetadataLogDirectory(dataDir.toString())
                    .addDirectory(dataDir.toString())
                    // the broker's own SCRAM login must exist before it starts: it is how it reaches itself
                    .setScramArguments(secured()
                            ? List.of(SCRAM_SHA_512 + "=[name=" + superUser.name() + ",password="
                                    + superUser.password() + "]")
                            : List.of())
                    .run();
        } catch (Exception e) {
            throw new IllegalStateException("cannot format kafka data dir " + dataDir, e);
        }
        LOG.debug("embedded kafka formatted dataDir={} output={}", dataDir, out.toString(StandardCharsets.UTF_8).trim());
        return true;
    }

    private static void shutDown(KafkaRaftServer server) {
        server.shutdown();
        server.awaitShutdown();
    }

    private static Path createTempDir() {
        try {
            return Files.createTempDirectory("tokentap-kafka-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temp dir for kafka", e);
        }
    }

    private static int freePort(int... taken) {
        for (int attempt = 0; attempt < 10; attempt++) {
            try (ServerSocket socket = new ServerSocket()) {
                socket.setReuseAddress(true);
                socket.bind(new InetSocketAddress(InetAddress.getByName(HOST), 0));
                int candidate = socket.getLocalPort();
                if (Arrays.stream(taken).noneMatch(p -> p == candidate)) {
                    return candidate;
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot find a free port on " + HOST, e);
            }
        }
        throw new IllegalStateException("no distinct free port found on " + HOST);
    }

    private static void deleteRecursively(Path dir) {
        try {
            Directories.deleteRecursively(dir);
        } catch (IOException e) {
            LOG.warn("embedded kafka could not delete dataDir={} error={}", dir, e.toString());
        }
    }

    /** Settings for an {@link EmbeddedKafka}; everything has a default that suits a test. */
    public static final class Builder {
        private Path dataDir;
        private int port;
        private int controllerPort;
        private final Map<String, String> brokerProperties = new LinkedHashMap<>();
        private Credentials superUser;

        private Builder() {
        }

        /**
         * Secures the client listener: SASL/SCRAM-SHA-512 logins and ACLs enforced, with {@code superUser} (which the
         * broker also logs in as) the only principal allowed everything without an ACL. Other users and their ACLs
         * are created through an admin client of {@link EmbeddedKafka#clientProperties()}.
         */
        public Builder scramSha512(String superUser, String password) {
            this.superUser = new Credentials(superUser, password);
            return this;
        }

        /** Where the logs live; kept on close. Without it a temp dir is created, and deleted on close. */
        public Builder dataDir(Path dataDir) {
            this.dataDir = Objects.requireNonNull(dataDir, "dataDir");
            return this;
        }

        /** The client (PLAINTEXT) port on 127.0.0.1; 0, the default, picks a free one. */
        public Builder port(int port) {
            this.port = checkPort(port);
            return this;
        }

        /** The KRaft controller port on 127.0.0.1; 0, the default, picks a free one. */
        public Builder controllerPort(int controllerPort) {
            this.controllerPort = checkPort(controllerPort);
            return this;
        }

        /** Partitions of auto-created topics (the broker's {@code num.partitions}); 1 unless set. */
        public Builder partitions(int partitions) {
            if (partitions < 1) {
                throw new IllegalArgumentException("partitions must be at least 1, got " + partitions);
            }
            return brokerProperty("num.partitions", Integer.toString(partitions));
        }

        /** Any broker setting; it wins over the kit's defaults. */
        public Builder brokerProperty(String key, String value) {
            brokerProperties.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        public EmbeddedKafka build() {
            return new EmbeddedKafka(this);
        }

        private static int checkPort(int port) {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port must be 0..65535, got " + port);
            }
            return port;
        }
    }

    /** A SCRAM login; names and passwords are quoted into JAAS configuration, so neither may hold a quote. */
    private record Credentials(String name, String password) {
        Credentials {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(password, "password");
            if (name.isEmpty() || (name + password).matches(".*[\"\\\\,=\\[\\]].*")) {
                throw new IllegalArgumentException("a SCRAM user name must be non-empty and neither it nor its password"
                        + " may contain quotes, backslashes, ',', '=' or brackets");
            }
        }
    }
}
