package dev.tokentap.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/**
 * {@code streams}: many concurrent streaming chats, each started again as soon as it ends, against a simulator
 * pacing tokens like a busy vLLM replica. Per target and round: completed requests/s and output tokens/s within
 * the round's window; over all rounds: the time to first token and every gap between token events. A token event
 * that arrived in the same read as the one before it, or less than half an inter-token latency after it, was held
 * back behind another somewhere ("coalesced"); one more than twice the inter-token latency late is "stalled".
 * Both are counted, and direct's counts show how much of that is the machine rather than the proxy.
 */
public final class StreamsScenario {

    public static final String NAME = "streams";
    private static final long RSS_SAMPLE_MILLIS = 100;

    /**
     * @param rounds      rounds, each running every target in turn
     * @param concurrency streams in flight at once
     * @param duration    how long each target runs per round; streams still going at its end finish uncounted
     * @param tokens      tokens per answer
     * @param ttft        the simulator's time to first token (what it was started with)
     * @param itl         the simulator's inter-token latency
     */
    public record Settings(int rounds, int concurrency, Duration duration, int tokens, Duration ttft, Duration itl) {
    }

    /**
     * One target's figures.
     *
     * @param completedPerSecond median over rounds of the streams completed per second within the window
     * @param tokensPerSecond    median over rounds of token events received per second within the window
     * @param ttft               time to first token event, microseconds
     * @param interToken         gaps between consecutive token events of a stream, microseconds
     * @param coalescedEvents    token events that came within half an inter-token latency of the previous one
     * @param stalledEvents      token events that came more than twice the inter-token latency after the previous one
     * @param peakRssMib         the largest resident set sampled while this target ran (the proxy's, nginx's, or
     *                           for direct the simulator's)
     * @param kernelPeakRssMib   the kernel's high-water mark (VmHWM) at the end of the scenario
     * @param bunchedPer1000     coalesced token events per 1,000 token events
     * @param cpuSecondsPer1000Chunks median over rounds of the target's process CPU seconds per 1,000 token events
     *                           received in the window (the proxy's, nginx's, or for direct the simulator's)
     * @param proxyThreadsCpuSecondsPer1000Chunks the same for the proxy's threads alone ({@link ThreadCpu#PROXY});
     *                           NaN for a target that is not a tokentap proxy
     */
    public record TargetFigures(long streams, long failures, double completedPerSecond, double tokensPerSecond,
                                Percentiles ttft, Percentiles interToken, long tokenEvents, long coalescedEvents,
                                long stalledEvents, double peakRssMib, double kernelPeakRssMib,
                                List<Double> roundCompletedPerSecond, double bunchedPer1000,
                                double cpuSecondsPer1000Chunks, double proxyThreadsCpuSecondsPer1000Chunks) {
    }

    /**
     * A target against direct.
     *
     * @param completedRatio       median over rounds of completed/s over direct's
     * @param tokensRatio          median over rounds of tokens/s over direct's
     * @param ttftP50AddedMicros   TTFT p50 minus direct's
     * @param ttftP99AddedMicros   TTFT p99 minus direct's
     * @param ttftP50Ratio         TTFT p50 over direct's
     * @param interTokenP50DiffMicros inter-token p50 minus direct's
     * @param interTokenP99DiffMicros inter-token p99 minus direct's
     * @param interTokenP99Ratio   inter-token p99 over direct's
     * @param extraCoalescedEvents coalesced events beyond direct's
     * @param extraStalledEvents   stalled events beyond direct's
     */
    public record VsDirect(double completedRatio, double tokensRatio, double ttftP50AddedMicros,
                           double ttftP99AddedMicros, double ttftP50Ratio, double interTokenP50DiffMicros,
                           double interTokenP99DiffMicros, double interTokenP99Ratio, long extraCoalescedEvents,
                           long extraStalledEvents) {
    }

    public record Result(String scenario, Settings settings, Map<String, TargetFigures> targets,
                         Map<String, VsDirect> vsDirect, double proxyPeakRssMib) {
    }

    private static final class Recorder {
        final Histogram ttft = new ConcurrentHistogram(3_600_000_000_000L, 3);
        final Histogram gaps = new ConcurrentHistogram(3_600_000_000_000L, 3);
        final AtomicLong streams = new AtomicLong();
        final AtomicLong failures = new AtomicLong();
        final AtomicLong tokenEvents = new AtomicLong();
        final AtomicLong coalesced = new AtomicLong();
        final AtomicLong stalled = new AtomicLong();
        final List<Double> roundCompleted = new ArrayList<>();
        final List<Double> roundTokens = new ArrayList<>();
        final List<Double> roundCpuPer1000 = new ArrayList<>();
        final List<Double> roundProxyThreadsCpuPer1000 = new ArrayList<>();
        volatile long peakRssKib;
    }

    private StreamsScenario() {
    }

    public static Result run(List<Target> targets, Settings settings, LoadClient client, Path outDir, PrintStream out)
            throws InterruptedException, IOException {
        Map<String, Recorder> recorders = new LinkedHashMap<>();
        targets.forEach(t -> recorders.put(t.name(), new Recorder()));
        // a short unrecorded warm-up per target, so JIT compilation of the proxy is not in the first round
        for (Target target : targets) {
            runWindow(target, settings, client, new Recorder(), Math.min(settings.concurrency(), 32),
                    Duration.ofMillis(Math.min(settings.duration().toMillis() / 2, 2000)));
        }
        for (int round = 0; round < settings.rounds(); round++) {
            for (Target target : LoadClient.rotation(targets, round)) {
                runWindow(target, settings, client, recorders.get(target.name()), settings.concurrency(),
                        settings.duration());
            }
            out.printf("  streams round %d/%d done%n", round + 1, settings.rounds());
        }

        Map<String, TargetFigures> figures = new LinkedHashMap<>();
        for (Target target : targets) {
            Recorder r = recorders.get(target.name());
            figures.put(target.name(), new TargetFigures(r.streams.get(), r.failures.get(),
                    Stats.round(Stats.median(r.roundCompleted), 2), Stats.round(Stats.median(r.roundTokens), 1),
                    Percentiles.ofNanos(r.ttft), Percentiles.ofNanos(r.gaps), r.tokenEvents.get(), r.coalesced.get(),
                    r.stalled.get(), mib(r.peakRssKib), mib(target.process().peakRssKib()),
                    r.roundCompleted.stream().map(v -> Stats.round(v, 2)).toList(),
                    Stats.round(r.tokenEvents.get() == 0 ? Double.NaN : r.coalesced.get() * 1000.0 / r.tokenEvents.get(), 1),
                    Stats.round(Stats.median(r.roundCpuPer1000), 4),
                    Stats.round(Stats.median(r.roundProxyThreadsCpuPer1000), 4)));
        }
        Map<String, VsDirect> vsDirect = new LinkedHashMap<>();
        TargetFigures direct = figures.get(Target.DIRECT);
        Recorder directRecorder = recorders.get(Target.DIRECT);
        figures.forEach((name, f) -> {
            if (name.equals(Target.DIRECT)) {
                return;
            }
            Recorder r = recorders.get(name);
            vsDirect.put(name, new VsDirect(
                    Stats.round(Stats.medianRatio(r.roundCompleted, directRecorder.roundCompleted), 4),
                    Stats.round(Stats.medianRatio(r.roundTokens, directRecorder.roundTokens), 4),
                    Stats.round(f.ttft().p50() - direct.ttft().p50(), 1),
                    Stats.round(f.ttft().p99() - direct.ttft().p99(), 1),
                    Stats.round(Stats.ratio(f.ttft().p50(), direct.ttft().p50()), 4),
                    Stats.round(f.interToken().p50() - direct.interToken().p50(), 1),
                    Stats.round(f.interToken().p99() - direct.interToken().p99(), 1),
                    Stats.round(Stats.ratio(f.interToken().p99(), direct.interToken().p99()), 4),
                    f.coalescedEvents() - direct.coalescedEvents(),
                    f.stalledEvents() - direct.stalledEvents()));
        });
        TargetFigures proxy = figures.get(Target.TAP_PROXY);
        Result result = new Result(NAME, settings, figures, vsDirect,
                proxy == null ? Double.NaN : Math.max(proxy.peakRssMib(), proxy.kernelPeakRssMib()));
        print(result, out);

        Map<String, Histogram> ttft = new LinkedHashMap<>();
        Map<String, Histogram> gaps = new LinkedHashMap<>();
        recorders.forEach((name, r) -> {
            ttft.put(name, r.ttft);
            gaps.put(name, r.gaps);
        });
        Charts.latencyCdf(outDir.resolve("streams-ttft-cdf.png"), "streams: time to first token", ttft);
        Charts.latencyCdf(outDir.resolve("streams-inter-token-cdf.png"), "streams: gap between token events", gaps);
        return result;
    }

    /** Keeps {@code concurrency} streams going against one target for {@code duration}, then lets them finish. */
    private static void runWindow(Target target, Settings settings, LoadClient client, Recorder r, int concurrency,
                                  Duration duration) throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + duration.toNanos();
        long itl = settings.itl().toNanos();
        String body = LoadClient.chatStreamBody(settings.tokens());
        AtomicLong completedInWindow = new AtomicLong();
        AtomicLong tokensInWindow = new AtomicLong();
        CountDownLatch loopsDone = new CountDownLatch(concurrency);
        Thread sampler = rssSampler(target, r);
        double cpuBefore = target.process().cpuSeconds();
        double threadsBefore = target.tokentapProxy() ? target.process().proxyThreadsCpuSeconds() : 0;

        Runnable[] loop = new Runnable[1];
        loop[0] = () -> {
            if (System.nanoTime() >= deadline) {
                loopsDone.countDown();
                return;
            }
            long[] last = {0};
            long sent = System.nanoTime();
            client.post(target.baseUrl(), LoadClient.CHAT, body, true, (now, count) -> {
                if (now < deadline) {
                    tokensInWindow.addAndGet(count);
                }
                r.tokenEvents.addAndGet(count);
                int rest = count;
                if (last[0] == 0) {
                    r.ttft.recordValue(now - sent);
                    rest--;
                } else {
                    record(r, now - last[0], itl);
                }
                // further token events in the same read came bunched together behind the first
                for (int i = 0; i < rest - (last[0] == 0 ? 0 : 1); i++) {
                    record(r, 0, itl);
                }
                last[0] = now;
            }).whenComplete((outcome, error) -> {
                r.streams.incrementAndGet();
                if (error != null || !outcome.ok() || outcome.tokens() != settings.tokens()) {
                    r.failures.incrementAndGet();
                } else if (outcome.endNanos() <= deadline) {
                    completedInWindow.incrementAndGet();
                }
                loop[0].run();
            });
        };
        for (int i = 0; i < concurrency; i++) {
            loop[0].run();
        }
        // the CPU is read at the window's end, where the token count stops, not after the stragglers finish
        long untilDeadline = deadline - System.nanoTime();
        if (untilDeadline > 0) {
            TimeUnit.NANOSECONDS.sleep(untilDeadline);
        }
        double cpuInWindow = target.process().cpuSeconds() - cpuBefore;
        double threadsInWindow = target.tokentapProxy()
                ? target.process().proxyThreadsCpuSeconds() - threadsBefore : Double.NaN;
        boolean finished = loopsDone.await(duration.toSeconds() + 120, TimeUnit.SECONDS);
        sampler.interrupt();
        sampler.join();
        if (!finished) {
            throw new IllegalStateException("streams against " + target.name() + " did not finish");
        }
        double seconds = duration.toNanos() / 1e9;
        r.roundCompleted.add(completedInWindow.get() / seconds);
        r.roundTokens.add(tokensInWindow.get() / seconds);
        if (tokensInWindow.get() > 0) {
            r.roundCpuPer1000.add(cpuInWindow * 1000 / tokensInWindow.get());
            r.roundProxyThreadsCpuPer1000.add(threadsInWindow * 1000 / tokensInWindow.get());
        }
    }

    private static void record(Recorder r, long gap, long itl) {
        r.gaps.recordValue(gap);
        if (gap < itl / 2) {
            r.coalesced.incrementAndGet();
        } else if (gap > 2 * itl) {
            r.stalled.incrementAndGet();
        }
    }

    private static Thread rssSampler(Target target, Recorder r) {
        Thread sampler = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                r.peakRssKib = Math.max(r.peakRssKib, target.process().rssKib());
                try {
                    Thread.sleep(RSS_SAMPLE_MILLIS);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "bench-rss-sampler");
        sampler.setDaemon(true);
        sampler.start();
        return sampler;
    }

    private static double mib(long kib) {
        return Stats.round(kib / 1024.0, 1);
    }

    static void print(Result result, PrintStream out) {
        Settings s = result.settings();
        out.println();
        out.printf("streams: %d concurrent chats of %d tokens, ttft %d ms, itl %d ms, %d rounds of %d s per target%n",
                s.concurrency(), s.tokens(), s.ttft().toMillis(), s.itl().toMillis(), s.rounds(),
                s.duration().toSeconds());
        out.printf("%-10s %8s %6s %9s %10s %9s %9s %9s %9s %9s %8s %8s%n", "target", "streams", "failed", "req/s",
                "tokens/s", "ttft p50", "ttft p99", "itl p50", "itl p99", "itl max", "bunched", "stalled");
        result.targets().forEach((name, f) -> out.printf(
                "%-10s %8d %6d %9.2f %10.1f %9.2f %9.2f %9.2f %9.2f %9.2f %8d %8d%n", name, f.streams(), f.failures(),
                f.completedPerSecond(), f.tokensPerSecond(), f.ttft().p50() / 1000, f.ttft().p99() / 1000,
                f.interToken().p50() / 1000, f.interToken().p99() / 1000, f.interToken().max() / 1000,
                f.coalescedEvents(), f.stalledEvents()));
        out.println("(latencies in ms; bunched: token events within half an itl of the previous; stalled: over 2 itl)");
        out.println("against direct");
        out.printf("%-10s %10s %10s %14s %14s %14s %8s %8s%n", "target", "req/s", "tokens/s", "ttft p50 +us",
                "itl p50 +us", "itl p99 +us", "bunched+", "stalled+");
        result.vsDirect().forEach((name, v) -> out.printf("%-10s %9.2f%% %9.2f%% %14.1f %14.1f %14.1f %8d %8d%n",
                name, v.completedRatio() * 100, v.tokensRatio() * 100, v.ttftP50AddedMicros(),
                v.interTokenP50DiffMicros(), v.interTokenP99DiffMicros(), v.extraCoalescedEvents(),
                v.extraStalledEvents()));
        out.println("per 1,000 token events: bunched, CPU seconds of the target's process (direct: the simulator)"
                + " and of a tokentap proxy's threads alone; resident set, MiB (largest sample while the target ran"
                + " / kernel high-water mark)");
        result.targets().forEach((name, f) -> out.printf("%-10s %8.1f %8.4f %8.4f %8.1f / %8.1f%n", name,
                f.bunchedPer1000(), f.cpuSecondsPer1000Chunks(), f.proxyThreadsCpuSecondsPer1000Chunks(),
                f.peakRssMib(), f.kernelPeakRssMib()));
    }
}
