package dev.tokentap.cli;

import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.aggregator.AggregatorOptions;
import dev.tokentap.aggregator.Streams;
import dev.tokentap.aggregator.http.HttpApi;
import dev.tokentap.aggregator.identity.Identity;
import dev.tokentap.aggregator.k8s.Kubernetes;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.config.KafkaClients;
import dev.tokentap.config.KafkaOptions;
import dev.tokentap.config.Ports;
import dev.tokentap.config.Problems;
import dev.tokentap.proxy.TapProxyConfig;
import dev.tokentap.proxy.TapProxyOptions;
import dev.tokentap.proxy.http.Admin;
import dev.tokentap.proxy.http.ClientLimits;
import dev.tokentap.proxy.http.Metering;
import dev.tokentap.proxy.http.Upstream;
import dev.tokentap.proxy.publish.Publishing;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * What {@code run} and {@code demo} share: the option groups of tap-proxy and the aggregator as those processes
 * declare them, and the launcher's own ports and places, which stand for the processes' {@code --port},
 * {@code --spool-dir} and {@code --state-dir}. Callers are named by address: the launcher never watches whatever
 * cluster a kubeconfig on the machine points at, so the aggregator's Kubernetes options are not taken.
 */
final class LocalOptions {

    /** The embedded broker's client port when none is given; its controller takes the next one. */
    static final int DEFAULT_EMBEDDED_KAFKA_PORT = 9092;
    /**
     * RocksDB's memory for every store when {@code --rocksdb-memory} is not given: the stores of one machine's
     * usage are small, and the process shares its memory with the proxy and a broker (docs/benchmarks.md).
     */
    static final long DEFAULT_ROCKSDB_MEMORY = 16L << 20;

    @Option(names = "--proxy-port", paramLabel = "PORT", defaultValue = "" + TapProxyConfig.DEFAULT_PORT,
            converter = Ports.Converter.class, description = "tap-proxy port, where clients call")
    int proxyPort;

    @Option(names = "--aggregator-port", paramLabel = "PORT", defaultValue = "" + HttpApi.DEFAULT_PORT,
            converter = Ports.Converter.class,
            description = "aggregator port: /metrics, /api/v1/usage, /healthz, /readyz")
    int aggregatorPort;

    @Option(names = "--embedded-kafka-port", paramLabel = "PORT", defaultValue = "" + DEFAULT_EMBEDDED_KAFKA_PORT,
            converter = Ports.Converter.class,
            description = "client port of the embedded broker when no --kafka is given; its controller uses the next "
                    + "port")
    int embeddedKafkaPort;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "where the embedded broker's log, the proxy's spool and the aggregator's state live "
                    + "(default: ./tokentap-data for run, ./tokentap-demo-data for demo)")
    Path dataDir;

    @Mixin KafkaOptions kafka;
    @Mixin TapProxyOptions.AdminOptions admin;
    @Mixin TapProxyOptions.MeteringOptions metering;
    @Mixin TapProxyOptions.PublishingOptions publishing;
    @Mixin TapProxyOptions.ClientOptions clients;
    @Mixin AggregatorOptions.StreamsOptions streams;
    @Mixin AggregatorOptions.LimitsOptions limits;
    @Mixin AggregatorOptions.IdentityOptions identity;
    @Mixin AggregatorOptions.ApiOptions api;
    @Mixin AggregatorOptions.BillingOptions billing;

    /**
     * The settings of everything to start, every problem of every option reported at once.
     *
     * @param upstream       the proxy's upstream, or null with a problem already in {@code problems}
     * @param listen         address the proxy and the aggregator bind
     * @param defaultDataDir where things live unless {@code --data-dir} says
     */
    LocalTokentap.Settings settings(Problems problems, Upstream upstream, String listen, Path defaultDataDir) {
        Path data = dataDir != null ? dataDir : defaultDataDir;
        String given = kafka.given();
        boolean embedded = given == null;
        // the embedded broker's address is known once it listens; the records are checked with a stand-in
        KafkaClients kafkaClients = kafka.clients(embedded ? "127.0.0.1:" + embeddedKafkaPort : given);
        if (embedded && kafkaClients.secured()) {
            problems.add("Kafka security settings from TOKENTAP_KAFKA_* (" + String.join(", ",
                    kafkaClients.properties().keySet()) + ") need --kafka: the embedded broker listens in plaintext");
        }
        problems.check(embeddedKafkaPort < 65_535, "--embedded-kafka-port must leave the next port for the "
                + "controller, got " + embeddedKafkaPort);
        ClientLimits clientLimits = problems.collect(clients::toRecord);
        Metering meteringRecord = problems.collect(metering::toRecord);
        // events wait on disk while the broker is away, and survive a crash of this process
        Publishing publishingRecord = problems.collect(() -> publishing.toRecord(kafkaClients, kafka.topic(),
                data.resolve("spool")));
        Admin adminRecord = problems.collect(() -> admin.toRecord(listen));
        TapProxyConfig proxy = problems.collect(() -> new TapProxyConfig(listen, proxyPort, upstream, clientLimits,
                meteringRecord, publishingRecord, adminRecord));
        Streams streamsRecord = problems.collect(() -> streams.toRecord(kafkaClients, kafka.topic(),
                data.resolve("aggregator"), DEFAULT_ROCKSDB_MEMORY));
        UsageTopology.Limits limitsRecord = problems.collect(limits::toRecord);
        Identity identityRecord = problems.collect(identity::toRecord);
        HttpApi httpRecord = problems.collect(() -> api.toRecord(listen, aggregatorPort));
        UsageTopology.Billing billingRecord = problems.collect(billing::toRecord);
        AggregatorConfig aggregator = new AggregatorConfig(streamsRecord, limitsRecord, identityRecord,
                Kubernetes.OFF, httpRecord, billingRecord);
        distinctPorts(problems, adminRecord, embedded);
        problems.throwIfAny();
        return new LocalTokentap.Settings(proxy, aggregator, data, embedded ? embeddedKafkaPort : null);
    }

    private void distinctPorts(Problems problems, Admin admin, boolean embedded) {
        Map<Integer, String> taken = new HashMap<>();
        claim(problems, taken, proxyPort, "--proxy-port");
        claim(problems, taken, aggregatorPort, "--aggregator-port");
        if (admin != null) {
            claim(problems, taken, admin.port(), "--admin-port");
        }
        if (embedded) {
            claim(problems, taken, embeddedKafkaPort, "--embedded-kafka-port");
            claim(problems, taken, embeddedKafkaPort == 0 ? 0 : embeddedKafkaPort + 1,
                    "--embedded-kafka-port (its controller, the next port)");
        }
    }

    private static void claim(Problems problems, Map<Integer, String> taken, int port, String option) {
        String other = port == 0 ? null : taken.putIfAbsent(port, option);
        problems.check(other == null, option + " and " + other + " must differ, both are " + port);
    }
}
