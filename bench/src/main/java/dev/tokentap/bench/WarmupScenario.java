package dev.tokentap.bench;

import dev.tokentap.proxy.TapProxyTraining;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * {@code warmup}: what a fresh process costs in its first minute. Each repetition starts every proxy afresh (nginx,
 * and tap-proxy in each JVM variant asked for), waits for it to be ready, polling every 10 ms, and from that moment
 * drives a closed loop of short non-streamed completions at a fixed concurrency for the scenario's duration,
 * recording requests/s, latency p50/p99 and the process's CPU second by second, and how long after the process
 * started it was ready and gave its first answer. Direct (the simulator, started once and driven for up to 20 s
 * before the first repetition) is the upstream's own curve. Targets take turns in an order that rotates each repetition.
 *
 * <p>A variant may use a class data sharing archive: the bench makes one as the image does, by running
 * {@link TapProxyTraining} under {@code -XX:ArchiveClassesAtExit} with the proxy's class path and options.
 */
public final class WarmupScenario {

    public static final String NAME = "warmup";
    static final int TOKENS = 16;
    /** In a variant's options, stands for {@code -XX:SharedArchiveFile=} the archive the bench trained. */
    static final String CDS = "cds";
    /** The last seconds of a run, whose mean rate is the run's steady state. */
    static final int STEADY_SECONDS = 10;
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration POLL = Duration.ofMillis(10);
    private static final Duration SIMULATOR_WARMUP = Duration.ofSeconds(20);

    /** A tap-proxy JVM to start fresh: the base options and {@code extraOptions} after them. */
    public record Variant(String name, List<String> extraOptions) {

        /** {@code NAME=OPTIONS}, the options space-separated and possibly none. */
        static Variant parse(String spec) {
            int eq = spec.indexOf('=');
            if (eq <= 0 || !spec.substring(0, eq).strip().matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
                throw new IllegalArgumentException("--warmup-variant must be NAME=JVM OPTIONS, got '" + spec + "'");
            }
            String options = spec.substring(eq + 1).strip();
            return new Variant(spec.substring(0, eq).strip(),
                    options.isEmpty() ? List.of() : List.of(options.split("\\s+")));
        }

        boolean usesArchive() {
            return extraOptions.contains(CDS);
        }

        List<String> jvmOptions(List<String> base, Path archive) {
            List<String> options = new ArrayList<>(base);
            extraOptions.forEach(o -> options.add(o.equals(CDS) ? "-XX:SharedArchiveFile=" + archive : o));
            return options;
        }
    }

    public record Settings(Duration duration, int concurrency, int repetitions, List<String> baseOptions,
                           List<Variant> variants) {
    }

    /**
     * One second of one run, counted from readiness.
     *
     * @param second            1 for the first second after the target was ready
     * @param requestsPerSecond answers that ended in this second
     * @param p50Micros         their latency's median, µs
     * @param p99Micros         their latency's 99th percentile, µs
     * @param meanMicros        their mean latency, µs
     * @param cpuSeconds        CPU the target's process used in this second
     */
    public record Second(int second, double requestsPerSecond, double p50Micros, double p99Micros, double meanMicros,
                         long failures, double cpuSeconds) {
    }

    /**
     * One fresh start of one target.
     *
     * @param readySeconds       from the process's start to its readiness (NaN for direct, which is not restarted)
     * @param firstAnswerSeconds from the process's start to its first answer
     * @param rssMib             the process's resident set at the end of the window
     */
    public record Run(int repetition, double readySeconds, double firstAnswerSeconds, double rssMib,
                      List<Second> seconds) {
    }

    /**
     * A target's figures, medians over its runs.
     *
     * @param steadyRequestsPerSecond the mean rate of the last {@value #STEADY_SECONDS} seconds
     * @param served                  answers in the whole window
     * @param shortOfSteady           answers fewer than the steady rate would have given over the window
     * @param secondsTo90             the first second whose 3-second mean rate reaches 90% of the steady rate
     * @param meanLatencyMicros       mean latency over the whole window
     * @param steadyMeanLatencyMicros mean latency over the last {@value #STEADY_SECONDS} seconds
     * @param cpuSeconds              CPU of the target's process over the window
     * @param steadyCpuSeconds        what the window would have cost at the last seconds' CPU per answer
     * @param rssMib                  resident set at the end of the window
     * @param curve                   second by second, the median of each figure over the runs
     */
    public record TargetFigures(List<Run> runs, double readySeconds, double firstAnswerSeconds,
                                double steadyRequestsPerSecond, double served, double shortOfSteady,
                                double secondsTo90, double meanLatencyMicros, double steadyMeanLatencyMicros,
                                double cpuSeconds, double steadyCpuSeconds, double rssMib, long failures,
                                List<Second> curve) {
    }

    public record Result(String scenario, Settings settings, String archive, Map<String, TargetFigures> targets) {
    }

    private WarmupScenario() {
    }

    public static Result run(Settings settings, Path workDir, EmbeddedKafka kafka, Optional<Path> nginxBin,
                             LoadClient client, Path outDir, PrintStream out) throws Exception {
        Path dir = Files.createDirectories(workDir.resolve(NAME));
        int simPort = ChildProcess.freePort();
        URI simUrl = URI.create("http://127.0.0.1:" + simPort);
        try (ChildProcess sim = ChildProcess.java("simulator", JvmOptions.SIMULATOR, SimulatorMain.class.getName(),
                List.of(Integer.toString(simPort), "0", "0"), dir)) {
            sim.awaitHttpOk(simUrl.resolve("/health"), START_TIMEOUT);
            // unrecorded: the upstream of every target is the simulator, and it should be past its own warm-up
            Duration simulatorWarmup = settings.duration().compareTo(SIMULATOR_WARMUP) < 0 ? settings.duration()
                    : SIMULATOR_WARMUP;
            measure(-1, simUrl, sim, Long.MIN_VALUE, new Settings(simulatorWarmup, settings.concurrency(), 1,
                    List.of(), List.of()), client);
            Path archive = dir.resolve("tap-proxy.jsa");
            if (settings.variants().stream().anyMatch(Variant::usesArchive)) {
                train(settings.baseOptions(), archive, dir, out);
            }

            List<String> order = new ArrayList<>();
            order.add(Target.DIRECT);
            nginxBin.ifPresent(n -> order.add(Target.NGINX));
            settings.variants().forEach(v -> order.add(v.name()));
            Map<String, List<Run>> runs = new LinkedHashMap<>();
            order.forEach(name -> runs.put(name, new ArrayList<>()));
            for (int rep = 0; rep < settings.repetitions(); rep++) {
                for (int i = 0; i < order.size(); i++) {
                    String name = order.get((i + rep) % order.size());
                    Path runDir = Files.createDirectories(dir.resolve(name + "-" + rep));
                    Run run;
                    if (name.equals(Target.DIRECT)) {
                        run = measure(rep, simUrl, sim, Long.MIN_VALUE, settings, client);
                    } else if (name.equals(Target.NGINX)) {
                        run = nginx(rep, nginxBin.get(), simPort, runDir, settings, client);
                    } else {
                        Variant variant = settings.variants().stream().filter(v -> v.name().equals(name))
                                .findFirst().orElseThrow();
                        run = proxy(rep, variant.jvmOptions(settings.baseOptions(), archive), simUrl, kafka, runDir,
                                settings, client);
                    }
                    runs.get(name).add(run);
                    out.printf("  warmup %s repetition %d: ready %.2f s, first answer %.2f s, %.0f answers%n", name,
                            rep + 1, run.readySeconds(), run.firstAnswerSeconds(),
                            run.seconds().stream().mapToDouble(Second::requestsPerSecond).sum());
                }
            }
            Map<String, TargetFigures> figures = new LinkedHashMap<>();
            runs.forEach((name, list) -> figures.put(name, figures(list)));
            Result result = new Result(NAME, settings, archive.toString(), figures);
            print(result, out);
            charts(result, outDir);
            return result;
        }
    }

    /** The archive, as the image makes it: the training run under {@code -XX:ArchiveClassesAtExit}. */
    static void train(List<String> baseOptions, Path archive, Path dir, PrintStream out)
            throws IOException, InterruptedException {
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            if (!entry.isEmpty() && Files.isDirectory(Path.of(entry))) {
                // the JVM archives classes from jars only, and refuses a class path with a directory in it
                throw new IllegalArgumentException("a 'cds' variant needs the bench started from its jar "
                        + "(java -jar tokentap.jar bench), not from a class path with directories such as " + entry);
            }
        }
        Files.deleteIfExists(archive);
        List<String> options = new ArrayList<>(baseOptions);
        options.add("-XX:ArchiveClassesAtExit=" + archive);
        long start = System.nanoTime();
        try (ChildProcess training = ChildProcess.java("training", options, JvmOptions.TAP_PROXY_ENVIRONMENT,
                TapProxyTraining.class.getName(), List.of(), dir)) {
            int exit = training.awaitExit(Duration.ofMinutes(3));
            if (exit != 0 || !Files.isRegularFile(archive)) {
                throw new IOException("the training run for the class data sharing archive failed (exit " + exit
                        + "); see " + training.log());
            }
        }
        out.printf("  warmup: class data sharing archive %s, %.1f MiB, trained in %.1f s%n", archive,
                Files.size(archive) / 1048576.0, (System.nanoTime() - start) / 1e9);
    }

    private static Run nginx(int rep, Path nginxBin, int simPort, Path dir, Settings settings, LoadClient client)
            throws Exception {
        int port = ChildProcess.freePort();
        Path conf = dir.resolve("nginx.conf");
        Files.writeString(conf, NginxConfig.render(dir, port, simPort, 1));
        try (ChildProcess nginx = ChildProcess.start("nginx", List.of(nginxBin.toString(), "-p", dir.toString(),
                "-c", conf.toString()), dir)) {
            nginx.awaitPort(port, START_TIMEOUT, POLL);
            return measure(rep, URI.create("http://127.0.0.1:" + port), nginx, nginx.startedNanos(), settings,
                    client);
        }
    }

    private static Run proxy(int rep, List<String> options, URI simUrl, EmbeddedKafka kafka, Path dir,
                             Settings settings, LoadClient client) throws Exception {
        int port = ChildProcess.freePort();
        int adminPort = ChildProcess.freePort();
        try (ChildProcess proxy = BenchEnvironment.startProxy(Target.TAP_PROXY, options, simUrl, kafka, port,
                adminPort, dir)) {
            proxy.awaitHttpOk(URI.create("http://127.0.0.1:" + adminPort + "/readyz"), START_TIMEOUT, POLL);
            return measure(rep, URI.create("http://127.0.0.1:" + port), proxy, proxy.startedNanos(), settings,
                    client);
        }
    }

    /** The closed loop from now, with per-second figures; {@code startedNanos} is the process's start, or MIN_VALUE. */
    private static Run measure(int rep, URI base, ChildProcess process, long startedNanos, Settings settings,
                               LoadClient client) throws InterruptedException {
        long ready = System.nanoTime();
        int seconds = (int) Math.max(1, settings.duration().toSeconds());
        long deadline = ready + seconds * 1_000_000_000L;
        Histogram[] latencies = new Histogram[seconds];
        long[] failures = new long[seconds];
        for (int s = 0; s < seconds; s++) {
            latencies[s] = Percentiles.newNanosHistogram();
        }
        AtomicLong firstAnswer = new AtomicLong();
        CountDownLatch loopsDone = new CountDownLatch(settings.concurrency());
        String body = LoadClient.completionBody(TOKENS);
        Runnable[] loop = new Runnable[1];
        loop[0] = () -> {
            if (System.nanoTime() >= deadline) {
                loopsDone.countDown();
                return;
            }
            client.post(base, LoadClient.COMPLETIONS, body, false, LoadClient.TokenArrivals.NONE)
                    .whenComplete((outcome, error) -> {
                        long end = error == null ? outcome.endNanos() : System.nanoTime();
                        int s = (int) ((end - ready) / 1_000_000_000L);
                        boolean ok = error == null && outcome.ok();
                        if (ok) {
                            // also past the window: a slow first answer is what this is here to show
                            firstAnswer.compareAndSet(0, end);
                        }
                        if (s < seconds) {
                            if (!ok) {
                                synchronized (failures) {
                                    failures[s]++;
                                }
                            } else {
                                synchronized (latencies[s]) {
                                    latencies[s].recordValue(Math.max(1, outcome.latencyNanos()));
                                }
                            }
                        }
                        loop[0].run();
                    });
        };
        double[] cpu = new double[seconds + 1];
        cpu[0] = process.cpuSeconds();
        for (int i = 0; i < settings.concurrency(); i++) {
            loop[0].run();
        }
        for (int s = 1; s <= seconds; s++) {
            TimeUnit.NANOSECONDS.sleep(Math.max(0, ready + s * 1_000_000_000L - System.nanoTime()));
            cpu[s] = process.cpuSeconds();
        }
        if (!loopsDone.await(120, TimeUnit.SECONDS)) {
            throw new IllegalStateException("warmup against " + process.name() + " did not finish");
        }
        List<Second> curve = new ArrayList<>();
        for (int s = 0; s < seconds; s++) {
            Histogram h = latencies[s];
            synchronized (h) {
                Percentiles p = Percentiles.ofNanos(h);
                curve.add(new Second(s + 1, h.getTotalCount(), p.p50(), p.p99(), p.mean(), failures[s],
                        Stats.round(cpu[s + 1] - cpu[s], 4)));
            }
        }
        double rssMib = Stats.round(process.rssKib() / 1024.0, 1);
        boolean fresh = startedNanos != Long.MIN_VALUE;
        return new Run(rep, fresh ? Stats.round((ready - startedNanos) / 1e9, 3) : Double.NaN,
                fresh && firstAnswer.get() != 0 ? Stats.round((firstAnswer.get() - startedNanos) / 1e9, 3)
                        : Double.NaN, rssMib, curve);
    }

    /** Medians over the runs of each run's summary, and the median curve. */
    static TargetFigures figures(List<Run> runs) {
        List<Double> steady = new ArrayList<>();
        List<Double> served = new ArrayList<>();
        List<Double> shortOf = new ArrayList<>();
        List<Double> to90 = new ArrayList<>();
        List<Double> mean = new ArrayList<>();
        List<Double> steadyMean = new ArrayList<>();
        List<Double> cpu = new ArrayList<>();
        List<Double> steadyCpu = new ArrayList<>();
        long failures = 0;
        for (Run run : runs) {
            List<Second> s = run.seconds();
            List<Second> tail = s.subList(Math.max(0, s.size() - STEADY_SECONDS), s.size());
            double rate = tail.stream().mapToDouble(Second::requestsPerSecond).average().orElse(0);
            double total = s.stream().mapToDouble(Second::requestsPerSecond).sum();
            steady.add(rate);
            served.add(total);
            shortOf.add(rate * s.size() - total);
            to90.add(secondsTo90(s, rate));
            mean.add(meanLatency(s));
            steadyMean.add(meanLatency(tail));
            double cpuAll = s.stream().mapToDouble(Second::cpuSeconds).sum();
            double tailAnswers = tail.stream().mapToDouble(Second::requestsPerSecond).sum();
            double tailCpu = tail.stream().mapToDouble(Second::cpuSeconds).sum();
            cpu.add(cpuAll);
            steadyCpu.add(tailAnswers == 0 ? Double.NaN : tailCpu / tailAnswers * total);
            failures += s.stream().mapToLong(Second::failures).sum();
        }
        int length = runs.stream().mapToInt(r -> r.seconds().size()).min().orElse(0);
        List<Second> curve = new ArrayList<>();
        for (int i = 0; i < length; i++) {
            int at = i;
            curve.add(new Second(i + 1, median(runs, r -> r.seconds().get(at).requestsPerSecond()),
                    median(runs, r -> r.seconds().get(at).p50Micros()),
                    median(runs, r -> r.seconds().get(at).p99Micros()),
                    median(runs, r -> r.seconds().get(at).meanMicros()),
                    runs.stream().mapToLong(r -> r.seconds().get(at).failures()).sum(),
                    Stats.round(median(runs, r -> r.seconds().get(at).cpuSeconds()), 4)));
        }
        return new TargetFigures(List.copyOf(runs), median(runs, Run::readySeconds),
                median(runs, Run::firstAnswerSeconds), Stats.round(Stats.median(steady), 1),
                Stats.round(Stats.median(served), 0), Stats.round(Stats.median(shortOf), 0), Stats.median(to90),
                Stats.round(Stats.median(mean), 1), Stats.round(Stats.median(steadyMean), 1),
                Stats.round(Stats.median(cpu), 3), Stats.round(Stats.median(steadyCpu), 3),
                median(runs, Run::rssMib), failures, curve);
    }

    /** The first second (1-based) whose mean rate over it and the two after reaches 90% of {@code steady}. */
    static double secondsTo90(List<Second> seconds, double steady) {
        for (int i = 0; i + 2 < seconds.size(); i++) {
            double rolling = (seconds.get(i).requestsPerSecond() + seconds.get(i + 1).requestsPerSecond()
                    + seconds.get(i + 2).requestsPerSecond()) / 3;
            if (rolling >= 0.9 * steady) {
                return i + 1;
            }
        }
        return seconds.size();
    }

    private static double meanLatency(List<Second> seconds) {
        double answers = seconds.stream().mapToDouble(Second::requestsPerSecond).sum();
        double weighted = seconds.stream().mapToDouble(s -> s.requestsPerSecond() * s.meanMicros()).sum();
        return answers == 0 ? Double.NaN : weighted / answers;
    }

    private static double median(List<Run> runs, java.util.function.ToDoubleFunction<Run> figure) {
        return Stats.median(runs.stream().map(figure::applyAsDouble).filter(d -> !Double.isNaN(d)).toList());
    }

    private static final int[] SHOWN = {1, 2, 3, 4, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60};

    static void print(Result result, PrintStream out) {
        Settings settings = result.settings();
        out.println();
        out.printf("warmup: each proxy started afresh, from its readiness a closed loop of %d clients of %d-token "
                + "completions for %d s; medians of %d repetitions%n", settings.concurrency(), TOKENS,
                settings.duration().toSeconds(), settings.repetitions());
        out.printf("%-22s %8s %10s %10s %8s %8s %7s %15s %12s %8s %5s%n", "target", "ready s", "1st ans. s",
                "steady r/s", "served", "short", "to 90%", "mean lat. ms", "cpu s", "rss MiB", "fail");
        result.targets().forEach((name, f) -> out.printf("%-22s %8.2f %10.2f %10.1f %8.0f %8.0f %7.0f %7.2f/%-7.2f "
                        + "%5.1f/%-6.1f %8.1f %5d%n", name, f.readySeconds(), f.firstAnswerSeconds(),
                f.steadyRequestsPerSecond(), f.served(), f.shortOfSteady(), f.secondsTo90(),
                f.meanLatencyMicros() / 1000, f.steadyMeanLatencyMicros() / 1000, f.cpuSeconds(),
                f.steadyCpuSeconds(), f.rssMib(), f.failures()));
        out.println("(short: answers fewer than the last 10 s's rate would have given; mean latency: whole window /"
                + " last 10 s; cpu: window / what it would have cost at the last 10 s's CPU per answer)");
        out.println("requests/s, p50 ms, p99 ms by second after readiness");
        out.printf("%-6s", "second");
        result.targets().keySet().forEach(name -> out.printf(" %24s", name));
        out.println();
        for (int second : SHOWN) {
            if (second > settings.duration().toSeconds()) {
                break;
            }
            out.printf("%-6d", second);
            for (TargetFigures f : result.targets().values()) {
                if (second <= f.curve().size()) {
                    Second s = f.curve().get(second - 1);
                    out.printf(" %24s", String.format("%6.0f %7.2f %8.2f", s.requestsPerSecond(),
                            s.p50Micros() / 1000, s.p99Micros() / 1000));
                } else {
                    out.printf(" %24s", "");
                }
            }
            out.println();
        }
    }

    private static void charts(Result result, Path outDir) throws IOException {
        Map<String, List<double[]>> rate = new LinkedHashMap<>();
        Map<String, List<double[]>> p99 = new LinkedHashMap<>();
        result.targets().forEach((name, f) -> {
            rate.put(name, f.curve().stream().map(s -> new double[] {s.second(), s.requestsPerSecond()}).toList());
            p99.put(name, f.curve().stream().map(s -> new double[] {s.second(), s.p99Micros() / 1000}).toList());
        });
        Charts.overTime(outDir.resolve("warmup-requests-per-second.png"),
                "warmup: requests/s by second after readiness", "requests/s", rate);
        Charts.overTime(outDir.resolve("warmup-p99.png"), "warmup: latency p99 by second after readiness",
                "p99 latency, ms (log scale)", p99);
    }
}
