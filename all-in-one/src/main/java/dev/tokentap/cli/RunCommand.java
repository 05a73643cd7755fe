package dev.tokentap.cli;

import dev.tokentap.config.ConfiguredCommand;
import dev.tokentap.config.ListenOption;
import dev.tokentap.config.Problems;
import dev.tokentap.proxy.TapProxyOptions;
import dev.tokentap.proxy.http.Upstream;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code tokentap run}: the proxy and the aggregator in one JVM in front of a real vLLM. */
@Command(name = "run",
        description = "Run tap-proxy and the aggregator in one JVM in front of a vLLM server. Without --kafka an "
                + "embedded single-node Kafka broker keeps the usage log under --data-dir. Takes every option of "
                + "tap-proxy and the aggregator but their ports and places, which --proxy-port, --aggregator-port "
                + "and --data-dir stand for, and the aggregator's Kubernetes options: callers are named by address.")
final class RunCommand implements ConfiguredCommand<LocalTokentap.Settings> {

    @Mixin
    TapProxyOptions.UpstreamOptions upstream;

    @Mixin
    ListenOption listen;

    @Mixin
    LocalOptions local;

    @Override
    public LocalTokentap.Settings configure() {
        Problems problems = new Problems();
        Upstream upstreamRecord = problems.collect(upstream::toRecord);
        return local.settings(problems, upstreamRecord, listen.address(), Path.of("tokentap-data"));
    }

    @Override
    public int run(LocalTokentap.Settings settings) throws InterruptedException {
        settings.requirePortsFree();
        LocalTokentap tokentap = LocalTokentap.start(settings);
        Runtime.getRuntime().addShutdownHook(new Thread(tokentap::close, "tokentap-shutdown"));
        System.out.printf("tokentap is running%n"
                        + "  proxy       %s  -> %s%n"
                        + "  usage       %s/metrics  and  %s/api/v1/usage%n"
                        + "  usage page  %s/%n"
                        + "  proxy admin %s/metrics%n"
                        + "  kafka       %s  (topic %s)%n"
                        + "Ctrl-C to stop.%n",
                tokentap.proxyUrl(), settings.proxy().upstream().url(), tokentap.aggregatorUrl(),
                tokentap.aggregatorUrl(), tokentap.aggregatorUrl(), tokentap.proxyAdminUrl(), tokentap.kafkaBootstrap(),
                tokentap.topic());
        Thread.currentThread().join();
        return 0;
    }
}
