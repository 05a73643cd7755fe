package dev.tokentap.cli;

import dev.tokentap.config.Cli;
import dev.tokentap.config.ConfiguredCommand;
import dev.tokentap.config.Ports;
import dev.tokentap.config.Problems;
import dev.tokentap.proxy.TapProxyOptions;
import dev.tokentap.proxy.http.Upstream;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tokentap demo}: everything {@code run} starts, with the simulator as the upstream and a little traffic
 * from a few clients, then the per-client usage the aggregator counted.
 */
@Command(name = "demo",
        description = "Start tokentap on an embedded Kafka broker with a vLLM simulator as the upstream, send a "
                + "little traffic from three client addresses, print the usage per client and stay up. Takes the "
                + "options of run but --upstream and --listen, which the simulator and --listen below stand for.")
final class DemoCommand implements ConfiguredCommand<LocalTokentap.Settings> {

    static final Duration COUNTED_TIMEOUT = Duration.ofSeconds(60);

    // a demo and its simulator stay on this machine unless told otherwise
    @Option(names = "--listen", paramLabel = "ADDRESS", defaultValue = "127.0.0.1",
            description = "address everything binds, the simulator too")
    String listen;

    @Option(names = "--sim-port", paramLabel = "PORT", defaultValue = "8000", converter = Ports.Converter.class,
            description = "port of the vLLM simulator")
    int simPort;

    @Mixin
    LocalOptions local;

    @Override
    public LocalTokentap.Settings configure() {
        Problems problems = new Problems();
        // the simulator's address; a free port is known only once it listens
        Upstream simulator = problems.collect(() -> Cli.defaults(new TapProxyOptions.UpstreamOptions())
                .toRecord(URI.create("http://" + listen + ":" + simPort)));
        // the demo's usage is kept apart from what `run` counts against a real vLLM
        return local.settings(problems, simulator, listen, Path.of("tokentap-demo-data"));
    }

    @Override
    public int run(LocalTokentap.Settings settings) throws Exception {
        Ports.requireFree(listen, simPort, "--sim-port");
        settings.requirePortsFree();
        VllmSimulator sim = VllmSimulator.start(listen, simPort, Duration.ofMillis(20), Duration.ofMillis(5));
        LocalTokentap tokentap;
        try {
            tokentap = LocalTokentap.start(settings.withUpstream(URI.create(sim.baseUrl())));
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
                        + "  usage log       Kafka %s, topic %s%n"
                        + "Ctrl-C to stop.%n",
                tokentap.aggregatorUrl(), tokentap.aggregatorUrl(), tokentap.aggregatorUrl(), tokentap.proxyAdminUrl(),
                tokentap.proxyUrl(), sim.models().get(0), tokentap.kafkaBootstrap(), tokentap.topic());
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
