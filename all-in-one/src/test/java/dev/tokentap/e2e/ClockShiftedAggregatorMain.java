package dev.tokentap.e2e;

import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.aggregator.k8s.PodDirectory;
import java.time.Clock;
import java.time.Duration;

/**
 * The aggregator as {@code AggregatorMain} starts it (the same flags, the same environment), with its own clock set
 * {@code -Dtokentap.test.clock-offset} (ISO-8601, e.g. {@code -PT4H}) away from the machine's: so that a test in a few
 * seconds can have the aggregator read an hour's requests while the hour is open, and close it after. Callers are
 * known by address only (the tests run it with {@code --kubernetes off}).
 */
public final class ClockShiftedAggregatorMain {

    static final String OFFSET = "tokentap.test.clock-offset";

    private ClockShiftedAggregatorMain() {
    }

    public static void main(String[] args) {
        Duration offset = Duration.parse(System.getProperty(OFFSET, "PT0S"));
        AggregatorConfig config = AggregatorConfig.fromArgs(args, System.getenv());
        Aggregator aggregator = Aggregator.start(config, PodDirectory.NONE, Clock.offset(Clock.systemUTC(), offset));
        Runtime.getRuntime().addShutdownHook(new Thread(aggregator::close, "aggregator-shutdown"));
    }
}
