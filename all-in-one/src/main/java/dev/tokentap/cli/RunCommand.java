package dev.tokentap.cli;

import java.net.URI;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tokentap run}: the proxy and the aggregator in one JVM in front of a real vLLM. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Run tap-proxy and the aggregator in one JVM in front of a vLLM server. Without --kafka an "
                + "embedded single-node Kafka broker keeps the usage log under --data-dir.")
final class RunCommand implements Callable<Integer> {

    @Option(names = "--upstream", required = true,
            description = "vLLM base URL, e.g. http://127.0.0.1:8000 (env TOKENTAP_UPSTREAM)")
    URI upstream;

    @Option(names = "--kafka", description = "Kafka bootstrap servers; without it the embedded broker is used "
            + "(env KAFKA_BOOTSTRAP_SERVERS)")
    String kafka;

    @Option(names = "--listen", defaultValue = "0.0.0.0",
            description = "address the proxy and the aggregator bind (env TOKENTAP_LISTEN; default: ${DEFAULT-VALUE})")
    String listen;

    @Mixin
    LocalOptions local;

    @Override
    public Integer call() throws InterruptedException {
        Path dataDir = local.dataDir != null ? local.dataDir : Path.of("tokentap-data");
        LocalTokentap tokentap = LocalTokentap.start(new LocalTokentap.Settings(upstream, kafka, dataDir, listen,
                local.proxyPort, local.adminPort, local.aggregatorPort, local.embeddedKafkaPort,
                LocalTokentap.billing(local)));
        Runtime.getRuntime().addShutdownHook(new Thread(tokentap::close, "tokentap-shutdown"));
        System.out.printf("tokentap is running%n"
                        + "  proxy       %s  -> %s%n"
                        + "  usage       %s/metrics  and  %s/api/v1/usage%n"
                        + "  usage page  %s/%n"
                        + "  proxy admin %s/metrics%n"
                        + "  kafka       %s  (topic tokentap.usage.v1)%n"
                        + "Ctrl-C to stop.%n",
                tokentap.proxyUrl(), upstream, tokentap.aggregatorUrl(), tokentap.aggregatorUrl(),
                tokentap.aggregatorUrl(), tokentap.proxyAdminUrl(), tokentap.kafkaBootstrap());
        Thread.currentThread().join();
        return 0;
    }
}
