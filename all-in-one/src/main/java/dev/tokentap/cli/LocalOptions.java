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
}
