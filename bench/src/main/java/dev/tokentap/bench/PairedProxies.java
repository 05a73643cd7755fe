package dev.tokentap.bench;

import dev.tokentap.proxy.TapProxyMain;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Two builds of tap-proxy side by side, to measure what a change costs on a machine too busy for two bench runs to
 * compare: this class path's proxy and one from another jar run at the same time, with the image's JVM options, in
 * front of one simulator and publishing to one broker, and one client sends each request to one and then the other
 * (the order swapping every round), a completion and a stream, over one keep-alive connection each. Reports both
 * distributions, the median over rounds of each round's difference, and each proxy's CPU per request.
 */
@Command(name = "paired-proxies", mixinStandardHelpOptions = true,
        description = "Latency and CPU of this build's tap-proxy beside another build's, request by request.")
public final class PairedProxies implements Callable<Integer> {

    @Option(names = "--other-jar", required = true, description = "a tokentap.jar or tap-proxy.jar of the other build")
    Path otherJar;

    @Option(names = "--rounds", defaultValue = "10", description = "rounds (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--requests", defaultValue = "1000",
            description = "completions, and as many streams, per proxy per round (default: ${DEFAULT-VALUE})")
    int requests;

    @Option(names = "--warmup", defaultValue = "3000",
            description = "unrecorded completions and streams per proxy first (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--tokens", defaultValue = "16", description = "tokens per answer (default: ${DEFAULT-VALUE})")
    int tokens;

    @Option(names = "--out", defaultValue = "paired-proxies", description = "work directory (default: ${DEFAULT-VALUE})")
    Path out;

    /** One proxy's figures. */
    private static final class Side {
        final String name;
        final ChildProcess process;
        final URI base;
        final Histogram completion = Percentiles.newNanosHistogram();
        final Histogram stream = Percentiles.newNanosHistogram();
        final List<Long> roundCompletionP50 = new ArrayList<>();
        final List<Long> roundStreamP50 = new ArrayList<>();
        double cpuSeconds;
        long measured;

        Side(String name, ChildProcess process, URI base) {
            this.name = name;
            this.process = process;
            this.base = base;
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new PairedProxies()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Path work = Files.createDirectories(out.toAbsolutePath().normalize());
        List<ChildProcess> started = new ArrayList<>();
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().build().start();
             LoadClient client = new LoadClient(4)) {
            int simPort = ChildProcess.freePort();
            ChildProcess sim = ChildProcess.java("simulator", JvmOptions.SIMULATOR, SimulatorMain.class.getName(),
                    List.of(Integer.toString(simPort), "0", "0"), work);
            started.add(sim);
            URI simUrl = URI.create("http://127.0.0.1:" + simPort);
            sim.awaitHttpOk(simUrl.resolve("/health"), Duration.ofSeconds(60));
            Side mine = start("this", ChildProcess.absoluteClassPath(System.getProperty("java.class.path")), simUrl,
                    kafka, work, started);
            Side other = start("other", otherJar.toAbsolutePath().toString(), simUrl, kafka, work, started);
            List<Side> sides = List.of(mine, other);

            for (int i = 0; i < warmup; i++) {
                for (Side side : sides) {
                    send(client, side, false, null);
                    send(client, side, true, null);
                }
            }
            for (int round = 0; round < rounds; round++) {
                List<Side> order = round % 2 == 0 ? sides : List.of(other, mine);
                Map<Side, Histogram> completions = new LinkedHashMap<>();
                Map<Side, Histogram> streams = new LinkedHashMap<>();
                Map<Side, Double> cpuBefore = new LinkedHashMap<>();
                for (Side side : sides) {
                    completions.put(side, Percentiles.newNanosHistogram());
                    streams.put(side, Percentiles.newNanosHistogram());
                    cpuBefore.put(side, side.process.cpuSeconds());
                }
                for (int i = 0; i < requests; i++) {
                    for (Side side : order) {
                        send(client, side, false, completions.get(side));
                        send(client, side, true, streams.get(side));
                    }
                }
                for (Side side : sides) {
                    side.cpuSeconds += side.process.cpuSeconds() - cpuBefore.get(side);
                    side.measured += 2L * requests;
                    side.completion.add(completions.get(side));
                    side.stream.add(streams.get(side));
                    side.roundCompletionP50.add(completions.get(side).getValueAtPercentile(50));
                    side.roundStreamP50.add(streams.get(side).getValueAtPercentile(50));
                }
                System.out.printf("round %d/%d done%n", round + 1, rounds);
            }

            System.out.printf("%nsequential, one keep-alive connection per proxy, %d rounds of %d completions and %d "
                    + "streams (%d tokens) per proxy, microseconds%n", rounds, requests, requests, tokens);
            System.out.printf("%-8s %12s %12s %12s %12s %12s %12s %16s%n", "proxy", "compl p50", "compl p99",
                    "compl p99.9", "stream p50", "stream p99", "stream p99.9", "cpu ms/request");
            for (Side side : sides) {
                Percentiles c = Percentiles.ofNanos(side.completion);
                Percentiles s = Percentiles.ofNanos(side.stream);
                System.out.printf("%-8s %12.1f %12.1f %12.1f %12.1f %12.1f %12.1f %16.4f%n", side.name, c.p50(),
                        c.p99(), c.p999(), s.p50(), s.p99(), s.p999(), side.cpuSeconds * 1000 / side.measured);
            }
            System.out.printf("this minus other, median over rounds of the round's p50: completion %.1f µs, "
                            + "stream %.1f µs%n", medianDifference(mine.roundCompletionP50, other.roundCompletionP50),
                    medianDifference(mine.roundStreamP50, other.roundStreamP50));
            return 0;
        } finally {
            for (int i = started.size() - 1; i >= 0; i--) {
                started.get(i).close();
            }
        }
    }

    private Side start(String name, String classPath, URI simUrl, EmbeddedKafka kafka, Path work,
                       List<ChildProcess> started) throws Exception {
        int port = ChildProcess.freePort();
        int adminPort = ChildProcess.freePort();
        List<String> command = new ArrayList<>();
        command.add("env");
        JvmOptions.TAP_PROXY_ENVIRONMENT.forEach((key, value) -> command.add(key + "=" + value));
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JvmOptions.TAP_PROXY);
        command.addAll(List.of("-cp", classPath, TapProxyMain.class.getName(),
                "--upstream", simUrl.toString(),
                "--kafka", kafka.bootstrapServers(),
                "--listen", "127.0.0.1",
                "--port", Integer.toString(port),
                "--admin-port", Integer.toString(adminPort),
                "--spool-dir", work.resolve("spool-" + name).toString(),
                "--proxy-host", "paired-" + name));
        ChildProcess process = ChildProcess.start("tap-proxy-" + name, command, work);
        started.add(process);
        process.awaitHttpOk(URI.create("http://127.0.0.1:" + adminPort + "/readyz"), Duration.ofSeconds(60));
        return new Side(name, process, URI.create("http://127.0.0.1:" + port));
    }

    private void send(LoadClient client, Side side, boolean stream, Histogram into) throws Exception {
        LoadClient.Outcome outcome = client.post(side.base, stream ? LoadClient.CHAT : LoadClient.COMPLETIONS,
                stream ? LoadClient.chatStreamBody(tokens) : LoadClient.completionBody(tokens), stream,
                LoadClient.TokenArrivals.NONE).get(30, TimeUnit.SECONDS);
        if (!outcome.ok()) {
            throw new IllegalStateException(side.name + " failed a request: status " + outcome.status(),
                    outcome.failure());
        }
        if (into != null) {
            into.recordValue(outcome.latencyNanos());
        }
    }

    private static double medianDifference(List<Long> mine, List<Long> other) {
        List<Long> differences = new ArrayList<>();
        for (int i = 0; i < mine.size(); i++) {
            differences.add(mine.get(i) - other.get(i));
        }
        differences.sort(Long::compare);
        int n = differences.size();
        double nanos = n % 2 == 1 ? differences.get(n / 2) : (differences.get(n / 2 - 1) + differences.get(n / 2)) / 2.0;
        return Math.round(nanos / 100.0) / 10.0;
    }
}
