package dev.tokentap.bench;

import dev.tokentap.bench.aggregator.AggregatorBench;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * {@code aggregator}: runs {@link AggregatorBench}, which measures the aggregator's throughput from a pre-filled
 * topic and its end-to-end lag at a steady rate and prints its own table, then charts the lag.
 */
public final class AggregatorScenario {

    public static final String NAME = "aggregator";
    static final int QUICK_PREFILL = 20_000;
    static final int QUICK_RATE = 1_000;
    static final Duration QUICK_STEADY = Duration.ofSeconds(5);

    private AggregatorScenario() {
    }

    /**
     * Runs it and returns its result, which is written to aggregator.json; {@code commitInterval} null runs the
     * aggregator's default, and {@code aggregatorArgs} are more of its flags (an experiment when any).
     */
    public static AggregatorBench.Result run(Path workDir, boolean quick, Duration commitInterval,
                                             List<String> aggregatorArgs, Path outDir, PrintStream out)
            throws Exception {
        out.println();
        out.println("== " + NAME);
        Files.createDirectories(workDir);
        AggregatorBench.Settings settings = quick
                ? new AggregatorBench.Settings(workDir, QUICK_PREFILL, QUICK_RATE, QUICK_STEADY)
                : AggregatorBench.Settings.defaults(workDir);
        if (commitInterval != null) {
            settings = settings.withCommitInterval(commitInterval);
        }
        settings = settings.withAggregatorArgs(aggregatorArgs);
        AggregatorBench.Result result = AggregatorBench.run(settings, out);
        Charts.percentileCdf(outDir.resolve("aggregator-lag-cdf.png"),
                "aggregator: event published to counted in /metrics, at a steady rate",
                Map.of("aggregator", result.lagPercentilesMicros()));
        return result;
    }
}
