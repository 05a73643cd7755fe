package dev.tokentap.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The ports and places shared by {@code run} and {@code demo}. */
final class LocalOptions {

    @Option(names = "--proxy-port", defaultValue = "3000",
            description = "tap-proxy port, where clients call (env TOKENTAP_PROXY_PORT; default: ${DEFAULT-VALUE})")
    int proxyPort;

    @Option(names = "--admin-port", defaultValue = "3001",
            description = "tap-proxy admin port: /metrics, /healthz, /readyz (env TOKENTAP_ADMIN_PORT; "
                    + "default: ${DEFAULT-VALUE})")
    int adminPort;

    @Option(names = "--aggregator-port", defaultValue = "9400",
            description = "aggregator port: /metrics, /api/v1/usage, /healthz, /readyz (env TOKENTAP_AGGREGATOR_PORT; "
                    + "default: ${DEFAULT-VALUE})")
    int aggregatorPort;

    @Option(names = "--embedded-kafka-port", defaultValue = "9092",
            description = "client port of the embedded broker when no --kafka is given; its controller uses the "
                    + "next port (env TOKENTAP_EMBEDDED_KAFKA_PORT; default: ${DEFAULT-VALUE})")
    int embeddedKafkaPort;

    @Option(names = "--data-dir", description = "where the embedded broker's log and the aggregator's state live "
            + "(env TOKENTAP_DATA_DIR; default: ./tokentap-data for run, ./tokentap-demo-data for demo)")
    Path dataDir;

    @Option(names = "--prices", description = "the aggregator's price list (JSON or YAML; see docs/billing.md); "
            + "without it no cost is computed (env TOKENTAP_PRICES; default: none)")
    Path prices;

    @Option(names = "--hourly-grace", defaultValue = "10m", description = "how long after an hour ends its hourly "
            + "records wait for requests still on their way (env TOKENTAP_HOURLY_GRACE; default: ${DEFAULT-VALUE})")
    String hourlyGrace;

    @Option(names = "--usage-retention", defaultValue = "90d", description = "how long the hourly sums stay for "
            + "/api/v1/usage and the usage page (env TOKENTAP_USAGE_RETENTION; default: ${DEFAULT-VALUE})")
    String usageRetention;

    /** The aggregator's flags these options stand for, read as the aggregator reads them. */
    java.util.List<String> aggregatorFlags() {
        java.util.List<String> flags = new java.util.ArrayList<>(java.util.List.of("--hourly-grace", hourlyGrace,
                "--usage-retention", usageRetention));
        if (prices != null) {
            flags.addAll(java.util.List.of("--prices", prices.toString()));
        }
        return flags;
    }
}
