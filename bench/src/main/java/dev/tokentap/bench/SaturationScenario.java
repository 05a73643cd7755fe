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

/**
 * {@code saturation}: short non-streamed completions from a closed loop of 1, 2, 4, … clients, a fixed period per
 * level, against a simulator that answers at once, until a target's throughput grows by less than 5% twice in a
 * row ({@link SaturationLadder}). Levels are interleaved: each level runs every target still climbing, in a
 * rotating order. For every level the CPU the target's process used in the period (from /proc, nginx's master and
 * workers together; for direct, the simulator's) is divided by the requests it served.
 */
public final class SaturationScenario {

    public static final String NAME = "saturation";
    static final int TOKENS = 16;

    /**
     * @param period         how long each level runs per target
     * @param maxConcurrency the last level tried
     */
    public record Settings(Duration period, int maxConcurrency) {
    }

    /**
     * One level of one target.
     *
     * @param cpuSecondsPer1000 CPU seconds of the target's process per 1,000 requests served in the period
     * @param proxyThreadsCpuSecondsPer1000 the same for a tokentap proxy's threads alone ({@link ThreadCpu#PROXY});
     *                          NaN for other targets
     */
    public record Level(int concurrency, double requestsPerSecond, double cpuSecondsPer1000, long failures,
                        double proxyThreadsCpuSecondsPer1000) {
    }

    /**
     * @param peakRequestsPerSecond the best level's throughput
     * @param peakConcurrency       the level it came at
     * @param cpuSecondsPer1000AtPeak CPU per 1,000 requests at that level
     * @param cpuProcess            whose CPU it is: tap-proxy, nginx, or the simulator for direct
     * @param proxyThreadsCpuSecondsPer1000AtPeak a tokentap proxy's threads alone at that level
     */
    public record TargetFigures(List<Level> levels, double peakRequestsPerSecond, int peakConcurrency,
                                double cpuSecondsPer1000AtPeak, String cpuProcess, long failures,
                                double proxyThreadsCpuSecondsPer1000AtPeak) {
    }

    /**
     * tap-proxy beside nginx, each at its own peak.
     *
     * @param peakRatio   tap-proxy's peak requests/s over nginx's
     * @param cpuRatio    tap-proxy's CPU per 1,000 requests over nginx's
     */
    public record ProxyVsNginx(double peakRatio, double cpuRatio) {
    }

    public record Result(String scenario, Settings settings, Map<String, TargetFigures> targets,
                         Map<String, Double> peakRatioVsDirect, ProxyVsNginx proxyVsNginx) {
    }

    private SaturationScenario() {
    }

    public static Result run(List<Target> targets, Settings settings, LoadClient client, Path outDir, PrintStream out)
            throws InterruptedException, IOException {
        Map<String, SaturationLadder> ladders = new LinkedHashMap<>();
        Map<String, List<Level>> levels = new LinkedHashMap<>();
        targets.forEach(t -> {
            ladders.put(t.name(), new SaturationLadder());
            levels.put(t.name(), new ArrayList<>());
        });
        for (Target target : targets) {
            // unrecorded, so the first level does not pay for the JIT compiling the request path
            runLevel(target, 8, Duration.ofMillis(Math.min(1000, settings.period().toMillis())), client);
        }
        int step = 0;
        for (int concurrency = 1; concurrency <= settings.maxConcurrency(); concurrency *= 2, step++) {
            boolean any = false;
            for (Target target : LoadClient.rotation(targets, step)) {
                SaturationLadder ladder = ladders.get(target.name());
                if (ladder.stopped()) {
                    continue;
                }
                any = true;
                Level level = runLevel(target, concurrency, settings.period(), client);
                levels.get(target.name()).add(level);
                ladder.record(level.requestsPerSecond());
            }
            if (!any) {
                break;
            }
            out.printf("  saturation concurrency %d done%n", concurrency);
        }

        Map<String, TargetFigures> figures = new LinkedHashMap<>();
        levels.forEach((name, list) -> {
            Level peak = list.stream().max((a, b) -> Double.compare(a.requestsPerSecond(), b.requestsPerSecond()))
                    .orElse(new Level(0, 0, Double.NaN, 0, Double.NaN));
            figures.put(name, new TargetFigures(List.copyOf(list), peak.requestsPerSecond(), peak.concurrency(),
                    peak.cpuSecondsPer1000(), name.equals(Target.DIRECT) ? "simulator" : name,
                    list.stream().mapToLong(Level::failures).sum(), peak.proxyThreadsCpuSecondsPer1000()));
        });
        Map<String, Double> vsDirect = new LinkedHashMap<>();
        TargetFigures direct = figures.get(Target.DIRECT);
        figures.forEach((name, f) -> {
            if (!name.equals(Target.DIRECT)) {
                vsDirect.put(name, Stats.round(Stats.ratio(f.peakRequestsPerSecond(), direct.peakRequestsPerSecond()), 4));
            }
        });
        TargetFigures proxy = figures.get(Target.TAP_PROXY);
        TargetFigures nginx = figures.get(Target.NGINX);
        ProxyVsNginx beside = proxy == null || nginx == null ? null : new ProxyVsNginx(
                Stats.round(Stats.ratio(proxy.peakRequestsPerSecond(), nginx.peakRequestsPerSecond()), 4),
                Stats.round(Stats.ratio(proxy.cpuSecondsPer1000AtPeak(), nginx.cpuSecondsPer1000AtPeak()), 4));
        Result result = new Result(NAME, settings, figures, vsDirect, beside);
        print(result, out);

        Map<String, List<double[]>> curves = new LinkedHashMap<>();
        levels.forEach((name, list) -> curves.put(name, list.stream()
                .map(l -> new double[] {l.concurrency(), l.requestsPerSecond()}).toList()));
        Charts.throughput(outDir.resolve("saturation-throughput.png"),
                "saturation: non-streamed completions, throughput against concurrency", curves);
        return result;
    }

    private static Level runLevel(Target target, int concurrency, Duration period, LoadClient client)
            throws InterruptedException {
        String body = LoadClient.completionBody(TOKENS);
        AtomicLong completed = new AtomicLong();
        AtomicLong failures = new AtomicLong();
        CountDownLatch loopsDone = new CountDownLatch(concurrency);
        double cpuBefore = target.process().cpuSeconds();
        double threadsBefore = target.tokentapProxy() ? target.process().proxyThreadsCpuSeconds() : 0;
        long start = System.nanoTime();
        long deadline = start + period.toNanos();
        Runnable[] loop = new Runnable[1];
        loop[0] = () -> {
            if (System.nanoTime() >= deadline) {
                loopsDone.countDown();
                return;
            }
            client.post(target.baseUrl(), LoadClient.COMPLETIONS, body, false, LoadClient.TokenArrivals.NONE)
                    .whenComplete((outcome, error) -> {
                        if (error != null || !outcome.ok()) {
                            failures.incrementAndGet();
                        } else if (outcome.endNanos() <= deadline) {
                            completed.incrementAndGet();
                        }
                        loop[0].run();
                    });
        };
        for (int i = 0; i < concurrency; i++) {
            loop[0].run();
        }
        TimeUnit.NANOSECONDS.sleep(Math.max(0, deadline - System.nanoTime()));
        double cpu = target.process().cpuSeconds() - cpuBefore;
        double threads = target.tokentapProxy() ? target.process().proxyThreadsCpuSeconds() - threadsBefore
                : Double.NaN;
        long served = completed.get();
        if (!loopsDone.await(120, TimeUnit.SECONDS)) {
            throw new IllegalStateException("saturation against " + target.name() + " did not finish");
        }
        double seconds = (deadline - start) / 1e9;
        return new Level(concurrency, Stats.round(served / seconds, 1),
                served == 0 ? Double.NaN : Stats.round(cpu * 1000 / served, 4), failures.get(),
                served == 0 ? Double.NaN : Stats.round(threads * 1000 / served, 4));
    }

    static void print(Result result, PrintStream out) {
        out.println();
        out.printf("saturation: closed loop of non-streamed completions, %d ms per level%n",
                result.settings().period().toMillis());
        out.printf("%-10s %12s %10s %16s %16s %8s  %s%n", "target", "peak req/s", "at conc.", "cpu s/1000 req",
                "proxy threads", "failed", "cpu of");
        result.targets().forEach((name, f) -> out.printf("%-10s %12.1f %10d %16.4f %16.4f %8d  %s%n", name,
                f.peakRequestsPerSecond(), f.peakConcurrency(), f.cpuSecondsPer1000AtPeak(),
                f.proxyThreadsCpuSecondsPer1000AtPeak(), f.failures(), f.cpuProcess()));
        out.println("requests/s per level");
        out.printf("%-10s", "conc.");
        int maxLevels = result.targets().values().stream().mapToInt(f -> f.levels().size()).max().orElse(0);
        for (int i = 0; i < maxLevels; i++) {
            out.printf(" %9d", 1 << i);
        }
        out.println();
        result.targets().forEach((name, f) -> {
            out.printf("%-10s", name);
            f.levels().forEach(l -> out.printf(" %9.1f", l.requestsPerSecond()));
            out.println();
        });
        result.peakRatioVsDirect().forEach((name, ratio) -> out.printf("%s peak against direct: %.1f%%%n", name,
                ratio * 100));
        if (result.proxyVsNginx() != null) {
            out.printf("tap-proxy beside nginx: peak req/s %.1f%% of nginx's, CPU per 1,000 requests %.2fx nginx's%n",
                    result.proxyVsNginx().peakRatio() * 100, result.proxyVsNginx().cpuRatio());
        }
    }
}
