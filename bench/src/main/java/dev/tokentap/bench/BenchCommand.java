package dev.tokentap.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tokentap bench}: the same load direct to the simulator, through tap-proxy and through nginx, interleaved
 * in rounds, with a table and a JSON file per scenario and PNG charts.
 */
@Command(name = "bench",
        description = "Measure what tap-proxy costs: the same load direct to a vLLM simulator, through tap-proxy and "
                + "through nginx (when an nginx binary is found), interleaved in rounds. Writes a JSON file per "
                + "scenario and PNG charts to --out.")
public final class BenchCommand implements Callable<Integer> {

    /** The scenarios, in the order {@code all} runs them. */
    public static final List<String> SCENARIOS = List.of(LatencyScenario.NAME, StreamsScenario.NAME,
            SaturationScenario.NAME, AggregatorScenario.NAME);
    /** Scenarios run only when named, after the others: a fresh start of every target per repetition is slow. */
    public static final List<String> NAMED_ONLY = List.of(WarmupScenario.NAME);

    @Option(names = "--scenario", defaultValue = "all",
            description = "latency, streams, saturation, aggregator, warmup or all (all but warmup); several may be "
                    + "given comma-separated")
    String scenario;

    @Option(names = "--out", defaultValue = "./tokentap-bench",
            description = "where JSON files, charts and the child processes' logs go")
    Path out;

    @Option(names = "--quick", defaultValue = "false",
            description = "short runs of every scenario, well under a minute in all, to check the tool works; the "
                    + "figures are not to be quoted")
    boolean quick;

    @Option(names = "--rounds", description = "rounds of every target in turn, for latency and streams "
            + "(default: 5 for latency and 3 for streams, quick 2)")
    Integer rounds;

    @Option(names = "--latency-requests", description = "latency: completions, and as many streams, per target per "
            + "round (default: 1000, quick 50)")
    Integer latencyRequests;

    @Option(names = "--streams-concurrency", description = "streams: concurrent streaming chats (default: 256)")
    Integer streamsConcurrency;

    @Option(names = "--streams-duration", paramLabel = "DURATION", description = "streams: how long each target "
            + "runs per round (default: 20s, quick 2s)")
    Duration streamsDuration;

    @Option(names = "--streams-tokens", description = "streams: tokens per answer (default: 128)")
    Integer streamsTokens;

    @Option(names = "--ttft", paramLabel = "DURATION", defaultValue = "50ms",
            description = "streams: the simulator's time to first token")
    Duration ttft;

    @Option(names = "--itl", paramLabel = "DURATION", defaultValue = "10ms",
            description = "streams: the simulator's inter-token latency")
    Duration itl;

    @Option(names = "--saturation-period", paramLabel = "DURATION", description = "saturation: how long each "
            + "concurrency level runs per target (default: 5s, quick 500ms)")
    Duration saturationPeriod;

    @Option(names = "--saturation-max-concurrency", description = "saturation: the highest level tried; levels "
            + "double from 1 (default: 128, quick 16)")
    Integer saturationMaxConcurrency;

    @Option(names = "--aggregator-commit-interval", paramLabel = "DURATION", description = "aggregator: run with "
            + "another commit interval than the aggregator's default, as a labelled experiment (default: the "
            + "aggregator's)")
    Duration aggregatorCommitInterval;

    @Option(names = "--warmup-duration", paramLabel = "DURATION", description = "warmup: how long each fresh "
            + "target is driven from its readiness (default: 60s, quick 5s)")
    Duration warmupDuration;

    @Option(names = "--warmup-concurrency", description = "warmup: concurrent clients of short completions "
            + "(default: 8)")
    Integer warmupConcurrency;

    @Option(names = "--warmup-repetitions", description = "warmup: fresh starts of every target, interleaved "
            + "(default: 2, quick 1)")
    Integer warmupRepetitions;

    @Option(names = "--warmup-variant", paramLabel = "NAME=OPTIONS", description = "warmup: a tap-proxy JVM to "
            + "start fresh, named, with JVM options added to the proxy's (the word 'cds' stands for "
            + "-XX:SharedArchiveFile= an archive trained as the image's is); may be repeated "
            + "(default: the image's, tap-proxy=cds, and tap-proxy-no-cds=)")
    List<String> warmupVariants;

    @Option(names = "--nginx", description = "the nginx binary, or 'none' to leave nginx out "
            + "(default: nginx on the PATH, else /usr/sbin/nginx, else none)")
    String nginx;

    @Option(names = "--proxy-jvm-options", description = "JVM options of the tap-proxy child, space-separated, to try "
            + "others against the image's (default: the image's, see docs/benchmarks.md)")
    String proxyJvmOptions;

    @Option(names = "--proxy-variant", paramLabel = "NAME=OPTIONS", description = "latency, streams, saturation: "
            + "another tap-proxy as a target of its own, named (tap-proxy-...), with JVM options added after the "
            + "proxy's, interleaved with the others; may be repeated")
    List<String> proxyVariants;

    @Option(names = "--run-target", defaultValue = "false",
            description = "also run `tokentap run` as a newcomer starts it (no JVM options, its own embedded broker "
                    + "and aggregator) in front of the same simulator, as the target tokentap-run; its proxy's "
                    + "threads are measured apart from the process")
    boolean runTarget;

    @Option(names = "--netty-proxy", defaultValue = "false",
            description = "also run an experimental reverse proxy on Netty with tap-proxy's tap and publisher as a "
                    + "target of its own, netty-proxy, interleaved with the others (see docs/benchmarks.md)")
    boolean nettyProxy;

    private PrintStream stdout = System.out;
    private final long startedNanos = System.nanoTime();

    /** Where tables go; tests pass their own stream. */
    public BenchCommand printTo(PrintStream printStream) {
        this.stdout = printStream;
        return this;
    }

    @Override
    public Integer call() throws Exception {
        System.setProperty("java.awt.headless", "true");
        List<String> chosen = scenarios(scenario);
        Path outDir = Files.createDirectories(out.toAbsolutePath().normalize());
        Path workDir = Files.createDirectories(outDir.resolve("work"));
        Optional<Path> nginxBin = BenchEnvironment.findNginx(nginx);
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).findAndRegisterModules();
        writeJson(json, outDir.resolve("run.json"), runInfo(chosen, nginxBin));
        if (nginxBin.isEmpty()) {
            stdout.println("note: no nginx binary found, the nginx target is skipped");
        }

        LatencyScenario.Result latencyResult = null;
        StreamsScenario.Result streamsResult = null;
        SaturationScenario.Result saturationResult = null;
        boolean instant = chosen.contains(LatencyScenario.NAME) || chosen.contains(SaturationScenario.NAME);
        boolean paced = chosen.contains(StreamsScenario.NAME);
        if (instant || paced) {
            try (EmbeddedKafka kafka = EmbeddedKafka.builder().build().start();
                 LoadClient client = new LoadClient(Math.max(512, or(streamsConcurrency, 256) * 2))) {
                if (instant) {
                    // latency and saturation share one set of processes: a simulator that answers at once
                    try (BenchEnvironment env = BenchEnvironment.start("instant", workDir, kafka, Duration.ZERO,
                            Duration.ZERO, proxyOptions(), proxyVariants(), nginxBin, runTarget, nettyProxy, stdout)) {
                        if (chosen.contains(LatencyScenario.NAME)) {
                            latencyResult = latency(env, client, outDir);
                            writeJson(json, outDir.resolve(LatencyScenario.NAME + ".json"), latencyResult);
                        }
                        if (chosen.contains(SaturationScenario.NAME)) {
                            saturationResult = saturation(env, client, outDir);
                            writeJson(json, outDir.resolve(SaturationScenario.NAME + ".json"), saturationResult);
                        }
                    }
                }
                if (paced) {
                    // streams get processes of their own, so the proxy's resident set is that of this load alone
                    try (BenchEnvironment env = BenchEnvironment.start("paced", workDir, kafka, ttft, itl,
                            proxyOptions(), proxyVariants(), nginxBin, runTarget, nettyProxy, stdout)) {
                        streamsResult = streams(env, client, outDir);
                        writeJson(json, outDir.resolve(StreamsScenario.NAME + ".json"), streamsResult);
                    }
                }
            }
            Summary.Result summary = Summary.of(latencyResult, streamsResult, saturationResult);
            Summary.print(summary, stdout);
            writeJson(json, outDir.resolve("summary.json"), summary);
        }
        if (chosen.contains(WarmupScenario.NAME)) {
            header(WarmupScenario.NAME);
            try (EmbeddedKafka kafka = EmbeddedKafka.builder().build().start();
                 LoadClient client = new LoadClient(512)) {
                WarmupScenario.Result result = WarmupScenario.run(warmupSettings(), workDir, kafka, nginxBin, client,
                        outDir, stdout);
                writeJson(json, outDir.resolve(WarmupScenario.NAME + ".json"), result);
            }
        }
        if (chosen.contains(AggregatorScenario.NAME)) {
            Object result = AggregatorScenario.run(workDir.resolve("aggregator"), quick,
                    aggregatorCommitInterval, outDir, stdout);
            writeJson(json, outDir.resolve(AggregatorScenario.NAME + ".json"), result);
        }
        stdout.println();
        stdout.printf("results in %s (%.0f s in all)%n", outDir, (System.nanoTime() - startedNanos) / 1e9);
        return 0;
    }

    private LatencyScenario.Result latency(BenchEnvironment env, LoadClient client, Path outDir) throws Exception {
        header(LatencyScenario.NAME);
        return LatencyScenario.run(env.targets(), new LatencyScenario.Settings(or(rounds, quick ? 2 : 5),
                or(latencyRequests, quick ? 50 : 1000), quick ? 20 : 500), client, outDir, stdout);
    }

    private SaturationScenario.Result saturation(BenchEnvironment env, LoadClient client, Path outDir)
            throws Exception {
        header(SaturationScenario.NAME);
        return SaturationScenario.run(env.targets(), new SaturationScenario.Settings(
                or(saturationPeriod, Duration.ofMillis(quick ? 500 : 5000)), or(saturationMaxConcurrency, quick ? 16 : 128)),
                client, outDir, stdout);
    }

    private StreamsScenario.Result streams(BenchEnvironment env, LoadClient client, Path outDir) throws Exception {
        header(StreamsScenario.NAME);
        return StreamsScenario.run(env.targets(), new StreamsScenario.Settings(or(rounds, quick ? 2 : 3),
                or(streamsConcurrency, 256), or(streamsDuration, Duration.ofSeconds(quick ? 2 : 20)),
                or(streamsTokens, 128), ttft, itl), client, outDir, stdout);
    }

    WarmupScenario.Settings warmupSettings() {
        List<String> specs = warmupVariants == null || warmupVariants.isEmpty()
                ? List.of(Target.TAP_PROXY + "=" + WarmupScenario.CDS, Target.TAP_PROXY + "-no-cds=") : warmupVariants;
        List<WarmupScenario.Variant> variants = specs.stream().map(WarmupScenario.Variant::parse).toList();
        return new WarmupScenario.Settings(or(warmupDuration, Duration.ofSeconds(quick ? 5 : 60)),
                or(warmupConcurrency, 8), or(warmupRepetitions, quick ? 1 : 2), proxyOptions(), variants);
    }

    private void header(String name) {
        stdout.println();
        stdout.printf("== %s (%.0f s into the run)%n", name, (System.nanoTime() - startedNanos) / 1e9);
    }

    /** Resolves {@code --scenario}: {@code all}, or a comma-separated list of names. */
    static List<String> scenarios(String value) {
        List<String> chosen = new ArrayList<>();
        for (String part : value.toLowerCase(Locale.ROOT).split(",")) {
            String name = part.strip();
            if (name.equals("all")) {
                SCENARIOS.stream().filter(n -> !chosen.contains(n)).forEach(chosen::add);
                continue;
            }
            if (!SCENARIOS.contains(name) && !NAMED_ONLY.contains(name)) {
                throw new IllegalArgumentException("--scenario must be one of " + SCENARIOS + ", " + NAMED_ONLY
                        + " or all, got '" + name + "'");
            }
            if (!chosen.contains(name)) {
                chosen.add(name);
            }
        }
        List<String> order = new ArrayList<>(SCENARIOS);
        order.addAll(NAMED_ONLY);
        return order.stream().filter(chosen::contains).toList();
    }

    private Map<String, Object> runInfo(List<String> chosen, Optional<Path> nginxBin) {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("started_at", Instant.now().toString());
        info.put("scenarios", chosen);
        info.put("quick", quick);
        info.put("cpus", Runtime.getRuntime().availableProcessors());
        info.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        info.put("tap_proxy_jvm_options", proxyOptions());
        info.put("nginx", nginxBin.map(Path::toString).orElse(null));
        info.put("proxy_variants", proxyVariants());
        info.put("run_target", runTarget);
        info.put("netty_proxy", nettyProxy);
        info.put("proc_available", ProcStat.available());
        return info;
    }

    private List<String> proxyOptions() {
        if (proxyJvmOptions == null || proxyJvmOptions.isBlank()) {
            return JvmOptions.TAP_PROXY;
        }
        return List.of(proxyJvmOptions.strip().split("\\s+"));
    }

    /** {@code --proxy-variant}: each a tap-proxy named {@code tap-proxy-...} with options added to the proxy's. */
    List<WarmupScenario.Variant> proxyVariants() {
        if (proxyVariants == null) {
            return List.of();
        }
        List<WarmupScenario.Variant> variants = proxyVariants.stream().map(WarmupScenario.Variant::parse).toList();
        for (WarmupScenario.Variant variant : variants) {
            if (!variant.name().startsWith(Target.TAP_PROXY + "-") || variant.usesArchive()) {
                throw new IllegalArgumentException("--proxy-variant must be named tap-proxy-... and take JVM options "
                        + "(no archive), got '" + variant.name() + "'");
            }
        }
        return variants;
    }

    private static void writeJson(ObjectMapper json, Path file, Object value) throws IOException {
        json.writeValue(file.toFile(), value);
    }

    private static <T> T or(T value, T fallback) {
        return value == null ? fallback : value;
    }
}
