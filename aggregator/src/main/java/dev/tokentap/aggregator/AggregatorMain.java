package dev.tokentap.aggregator;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Command-line entry point: configuration from flags and environment, then {@link Aggregator} until stopped. */
public final class AggregatorMain {

    private static final Logger LOG = LoggerFactory.getLogger(AggregatorMain.class);

    private AggregatorMain() {
    }

    public static void main(String[] args) {
        AggregatorConfig config;
        try {
            config = AggregatorConfig.fromArgs(args, System.getenv());
        } catch (AggregatorConfig.HelpRequested help) {
            System.out.println(help.getMessage());
            return;
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        Aggregator aggregator;
        try {
            aggregator = Aggregator.start(config);
        } catch (RuntimeException e) {
            LOG.error("aggregator failed to start error={}", e.getMessage(), e);
            System.exit(1);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(aggregator::close, "aggregator-shutdown"));
    }
}
