package dev.tokentap.aggregator;

import dev.tokentap.config.Cli;
import dev.tokentap.config.ConfiguredCommand;
import dev.tokentap.config.Ports;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Command-line entry point: configuration from flags and environment, then {@link Aggregator} until stopped. */
@Command(name = "aggregator")
public final class AggregatorMain implements ConfiguredCommand<AggregatorConfig> {

    @Mixin
    AggregatorOptions options;

    public static void main(String[] args) {
        int exit = Cli.execute(new AggregatorMain(), args, System.getenv());
        if (exit != 0) {
            System.exit(exit);
        }
    }

    @Override
    public AggregatorConfig configure() {
        return options.configure();
    }

    @Override
    public int run(AggregatorConfig config) {
        // before Kafka is asked anything: a port in use is one line
        Ports.requireFree(config.http().listen(), config.http().port(), "--port");
        Aggregator aggregator = Aggregator.start(config);
        Runtime.getRuntime().addShutdownHook(new Thread(aggregator::close, "aggregator-shutdown"));
        return 0;
    }
}
