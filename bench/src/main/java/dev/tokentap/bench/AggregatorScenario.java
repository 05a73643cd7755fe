package dev.tokentap.bench;

import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * {@code aggregator}: the call into {@code dev.tokentap.bench.aggregator.AggregatorBench}, which measures the
 * aggregator's throughput from a pre-filled topic and its end-to-end lag at a steady rate, and prints its own
 * table. It is looked up by name so the bench builds and runs its other scenarios while that class is written
 * separately; without it the scenario is skipped with a note.
 */
public final class AggregatorScenario {

    public static final String NAME = "aggregator";
    static final String BENCH_CLASS = "dev.tokentap.bench.aggregator.AggregatorBench";
    static final int QUICK_PREFILL = 20_000;
    static final int QUICK_RATE = 1_000;
    static final Duration QUICK_STEADY = Duration.ofSeconds(5);

    private AggregatorScenario() {
    }

    /** Runs it; returns its result (a record, written to aggregator.json), or null when it is not available. */
    public static Object run(Path workDir, boolean quick, Path outDir, PrintStream out) throws Exception {
        out.println();
        out.println("== " + NAME);
        Class<?> bench;
        Class<?> settingsType;
        try {
            bench = Class.forName(BENCH_CLASS);
            settingsType = Class.forName(BENCH_CLASS + "$Settings");
        } catch (ClassNotFoundException e) {
            out.println("note: the aggregator scenario is not in this build (" + BENCH_CLASS + "), skipped");
            return null;
        }
        Files.createDirectories(workDir);
        Object settings = quick
                ? settingsType.getDeclaredConstructor(Path.class, int.class, int.class, Duration.class)
                        .newInstance(workDir, QUICK_PREFILL, QUICK_RATE, QUICK_STEADY)
                : settingsType.getMethod("defaults", Path.class).invoke(null, workDir);
        Object result;
        try {
            result = bench.getMethod("run", settingsType, PrintStream.class).invoke(null, settings, out);
        } catch (InvocationTargetException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
        Map<String, Long> lag = lagPercentiles(result);
        if (lag != null) {
            Charts.percentileCdf(outDir.resolve("aggregator-lag-cdf.png"),
                    "aggregator: event published to counted in /metrics, at a steady rate", Map.of("aggregator", lag));
        }
        return result;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Long> lagPercentiles(Object result) {
        try {
            Method accessor = result.getClass().getMethod("lagPercentilesMicros");
            return (Map<String, Long>) accessor.invoke(result);
        } catch (ReflectiveOperationException | ClassCastException e) {
            return null;
        }
    }
}
