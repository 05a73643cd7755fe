package dev.tokentap.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import org.HdrHistogram.Histogram;

/**
 * {@code latency}: one client on one keep-alive connection per target, sequential requests, alternating a short
 * non-streamed completion and a short streamed chat, against a simulator that answers at once. What a proxy adds
 * is then its own time per request. Each round runs every target in turn (in a rotating order); a round's p50 and
 * p99 are compared with direct's of the same round, and the median of those differences is reported.
 */
public final class LatencyScenario {

    public static final String NAME = "latency";
    static final int TOKENS = 16;

    /**
     * @param rounds           rounds, each covering every target
     * @param requestsPerRound completions per target per round, and as many streams
     * @param warmup           unrecorded requests per target before the first round
     */
    public record Settings(int rounds, int requestsPerRound, int warmup) {
    }

    /**
     * One target's figures over all rounds (microseconds).
     *
     * @param completion      latency of the non-streamed completion, request sent to last byte
     * @param streamFirstByte time from sending a streamed chat to its first body byte
     * @param streamTotal     the streamed chat to its last byte
     * @param cpuMicrosPerRequest the target's process (and children) CPU per recorded request, from its threads'
     *                            run time; for direct, the simulator's
     * @param sleepsPerRequest    times a thread of the target went to sleep per recorded request (voluntary
     *                            context switches): the wake-ups a request costs, its hand-offs between threads
     *                            among them
     */
    public record TargetFigures(long requests, long failures, Percentiles completion, Percentiles streamFirstByte,
                                Percentiles streamTotal, double cpuMicrosPerRequest, double sleepsPerRequest) {
    }

    /**
     * What a target adds over direct, microseconds: the median over rounds of the per-round difference.
     */
    public record Added(double completionP50Micros, double completionP99Micros, double firstByteP50Micros,
                        double firstByteP99Micros) {
    }

    public record Result(String scenario, Settings settings, int tokensPerAnswer, Map<String, TargetFigures> targets,
                         Map<String, Added> addedVsDirect) {
    }

    private static final class Recorder {
        final Histogram completion = Percentiles.newNanosHistogram();
        final Histogram firstByte = Percentiles.newNanosHistogram();
        final Histogram total = Percentiles.newNanosHistogram();
        final List<Double> roundCompletionP50 = new ArrayList<>();
        final List<Double> roundCompletionP99 = new ArrayList<>();
        final List<Double> roundFirstByteP50 = new ArrayList<>();
        final List<Double> roundFirstByteP99 = new ArrayList<>();
        long requests;
        long failures;
        long runNanos;
        long sleeps;
        long recorded;
    }

    private LatencyScenario() {
    }

    public static Result run(List<Target> targets, Settings settings, LoadClient client, Path outDir, PrintStream out)
            throws InterruptedException, ExecutionException, IOException {
        Map<String, Recorder> recorders = new LinkedHashMap<>();
        targets.forEach(t -> recorders.put(t.name(), new Recorder()));
        for (Target target : targets) {
            for (int i = 0; i < settings.warmup(); i++) {
                exchange(client, target, null, null, null);
            }
        }
        for (int round = 0; round < settings.rounds(); round++) {
            for (Target target : LoadClient.rotation(targets, round)) {
                Recorder r = recorders.get(target.name());
                Histogram roundCompletion = Percentiles.newNanosHistogram();
                Histogram roundFirstByte = Percentiles.newNanosHistogram();
                long[] before = target.process().threadRunNanosAndSleeps();
                for (int i = 0; i < settings.requestsPerRound(); i++) {
                    r.requests += 2;
                    r.failures += exchange(client, target, r, roundCompletion, roundFirstByte);
                }
                long[] after = target.process().threadRunNanosAndSleeps();
                r.runNanos += after[0] - before[0];
                r.sleeps += after[1] - before[1];
                r.recorded += 2L * settings.requestsPerRound();
                r.roundCompletionP50.add(roundCompletion.getValueAtPercentile(50) / 1000.0);
                r.roundCompletionP99.add(roundCompletion.getValueAtPercentile(99) / 1000.0);
                r.roundFirstByteP50.add(roundFirstByte.getValueAtPercentile(50) / 1000.0);
                r.roundFirstByteP99.add(roundFirstByte.getValueAtPercentile(99) / 1000.0);
            }
            out.printf("  latency round %d/%d done%n", round + 1, settings.rounds());
        }

        Map<String, TargetFigures> figures = new LinkedHashMap<>();
        Map<String, Added> added = new LinkedHashMap<>();
        Recorder direct = recorders.get(Target.DIRECT);
        recorders.forEach((name, r) -> {
            figures.put(name, new TargetFigures(r.requests, r.failures, Percentiles.ofNanos(r.completion),
                    Percentiles.ofNanos(r.firstByte), Percentiles.ofNanos(r.total),
                    Stats.round(r.runNanos / 1000.0 / Math.max(1, r.recorded), 1),
                    Stats.round(r.sleeps / (double) Math.max(1, r.recorded), 2)));
            if (!name.equals(Target.DIRECT)) {
                added.put(name, new Added(
                        Stats.round(Stats.medianDifference(r.roundCompletionP50, direct.roundCompletionP50), 1),
                        Stats.round(Stats.medianDifference(r.roundCompletionP99, direct.roundCompletionP99), 1),
                        Stats.round(Stats.medianDifference(r.roundFirstByteP50, direct.roundFirstByteP50), 1),
                        Stats.round(Stats.medianDifference(r.roundFirstByteP99, direct.roundFirstByteP99), 1)));
            }
        });
        Result result = new Result(NAME, settings, TOKENS, figures, added);
        print(result, out);

        Map<String, Histogram> completion = new LinkedHashMap<>();
        Map<String, Histogram> firstByte = new LinkedHashMap<>();
        recorders.forEach((name, r) -> {
            completion.put(name, r.completion);
            firstByte.put(name, r.firstByte);
        });
        Charts.latencyCdf(outDir.resolve("latency-completion-cdf.png"),
                "latency: non-streamed completion, request to last byte", completion);
        Charts.latencyCdf(outDir.resolve("latency-stream-ttfb-cdf.png"),
                "latency: streamed chat, request to first body byte", firstByte);
        return result;
    }

    /** One completion and one stream; returns how many of the two failed. */
    private static int exchange(LoadClient client, Target target, Recorder r, Histogram roundCompletion,
                                Histogram roundFirstByte) throws InterruptedException, ExecutionException {
        int failures = 0;
        LoadClient.Outcome completion = client.post(target.baseUrl(), LoadClient.COMPLETIONS,
                LoadClient.completionBody(TOKENS), false, LoadClient.TokenArrivals.NONE).get();
        if (!completion.ok()) {
            failures++;
        } else if (r != null) {
            r.completion.recordValue(completion.latencyNanos());
            roundCompletion.recordValue(completion.latencyNanos());
        }
        LoadClient.Outcome stream = client.post(target.baseUrl(), LoadClient.CHAT,
                LoadClient.chatStreamBody(TOKENS), true, LoadClient.TokenArrivals.NONE).get();
        if (!stream.ok() || stream.tokens() != TOKENS) {
            failures++;
        } else if (r != null) {
            r.firstByte.recordValue(stream.firstByteLatencyNanos());
            r.total.recordValue(stream.latencyNanos());
            roundFirstByte.recordValue(stream.firstByteLatencyNanos());
        }
        return failures;
    }

    static void print(Result result, PrintStream out) {
        out.println();
        out.println("latency: sequential requests on one keep-alive connection, microseconds");
        out.printf("%-16s %9s %6s %10s %10s %10s %10s %10s %9s %9s%n", "target", "requests", "failed", "compl p50",
                "compl p99", "ttfb p50", "ttfb p99", "stream p50", "cpu us/r", "sleeps/r");
        result.targets().forEach((name, f) -> out.printf("%-16s %9d %6d %10.1f %10.1f %10.1f %10.1f %10.1f %9.1f %9.2f%n",
                name, f.requests(), f.failures(), f.completion().p50(), f.completion().p99(),
                f.streamFirstByte().p50(), f.streamFirstByte().p99(), f.streamTotal().p50(), f.cpuMicrosPerRequest(),
                f.sleepsPerRequest()));
        out.println("added over direct (median over rounds of the per-round difference), microseconds");
        out.printf("%-16s %12s %12s %12s %12s%n", "target", "compl p50", "compl p99", "ttfb p50", "ttfb p99");
        result.addedVsDirect().forEach((name, a) -> out.printf("%-16s %12.1f %12.1f %12.1f %12.1f%n", name,
                a.completionP50Micros(), a.completionP99Micros(), a.firstByteP50Micros(), a.firstByteP99Micros()));
    }
}
