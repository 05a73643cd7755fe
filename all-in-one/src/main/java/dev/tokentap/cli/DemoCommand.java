package dev.tokentap.cli;

import dev.tokentap.testkit.sim.VllmSimulator;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tokentap demo}: everything {@code run} starts, with the simulator as the upstream and a little traffic
 * from a few clients, then the per-client usage the aggregator counted.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Start tokentap on an embedded Kafka broker with a vLLM simulator as the upstream, send a "
                + "little traffic from three client addresses, print the usage per client and stay up.")
final class DemoCommand implements Callable<Integer> {

    static final Duration COUNTED_TIMEOUT = Duration.ofSeconds(60);

    @Option(names = "--listen", defaultValue = "127.0.0.1",
            description = "address everything binds (env TOKENTAP_LISTEN; default: ${DEFAULT-VALUE})")
    String listen;

    @Option(names = "--sim-port", defaultValue = "8000",
            description = "port of the vLLM simulator (env TOKENTAP_SIM_PORT; default: ${DEFAULT-VALUE})")
    int simPort;

    @Mixin
    LocalOptions local;

    @Override
    public Integer call() throws Exception {
        // the demo's usage is kept apart from what `run` counts against a real vLLM
        Path dataDir = local.dataDir != null ? local.dataDir : Path.of("tokentap-demo-data");
        VllmSimulator sim = VllmSimulator.start(listen, simPort, Duration.ofMillis(20), Duration.ofMillis(5));
        LocalTokentap tokentap;
        try {
            tokentap = LocalTokentap.start(new LocalTokentap.Settings(URI.create(sim.baseUrl()), null, dataDir,
                    listen, local.proxyPort, local.adminPort, local.aggregatorPort, local.embeddedKafkaPort,
                LocalTokentap.billing(local)));
        } catch (RuntimeException e) {
            sim.close();
            throw e;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            tokentap.close();
            sim.close();
        }, "tokentap-shutdown"));

        if (!tokentap.awaitAggregatorRunning(COUNTED_TIMEOUT)) {
            System.err.println("the aggregator did not start within " + COUNTED_TIMEOUT.toSeconds() + " s");
            return 1;
        }
        UsageTable table = new UsageTable(tokentap.aggregatorUrl());
        long before = UsageTable.requests(table.fetch());
        int sent = new DemoTraffic(tokentap.proxyUrl(), sim.models().get(0)).send();
        List<UsageTable.ClientUsage> rows = awaitCounted(table, before + sent);

        System.out.printf("%nSent %d requests through the proxy from %s.%n%n", sent,
                String.join(", ", DemoTraffic.CLIENTS));
        System.out.print(UsageTable.render(rows));
        System.out.printf("%nLook at:%n"
                        + "  usage page      %s/%n"
                        + "  usage counters  %s/metrics%n"
                        + "  usage as JSON   %s/api/v1/usage%n"
                        + "  proxy metrics   %s/metrics%n"
                        + "  call it         curl %s/v1/chat/completions -H 'Content-Type: application/json' "
                        + "-d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'%n"
                        + "  usage log       Kafka %s, topic tokentap.usage.v1%n"
                        + "Ctrl-C to stop.%n",
                tokentap.aggregatorUrl(), tokentap.aggregatorUrl(), tokentap.aggregatorUrl(), tokentap.proxyAdminUrl(),
                tokentap.proxyUrl(),
                sim.models().get(0), tokentap.kafkaBootstrap());
        Thread.currentThread().join();
        return 0;
    }

    /** Polls the aggregator until it has counted {@code expected} requests, or the timeout passes. */
    private static List<UsageTable.ClientUsage> awaitCounted(UsageTable table, long expected) throws Exception {
        long deadline = System.nanoTime() + COUNTED_TIMEOUT.toNanos();
        List<UsageTable.ClientUsage> rows = table.fetch();
        while (UsageTable.requests(rows) < expected && System.nanoTime() < deadline) {
            Thread.sleep(200);
            rows = table.fetch();
        }
        if (UsageTable.requests(rows) < expected) {
            System.err.printf("the aggregator counted %d of %d requests so far%n", UsageTable.requests(rows),
                    expected);
        }
        return rows;
    }
}
