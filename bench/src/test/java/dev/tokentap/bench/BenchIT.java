package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tokentap.config.Cli;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tiny bench end to end: real child processes (simulator, tap-proxy, nginx when installed), a real broker, every
 * request checked, and the files it leaves read back.
 */
class BenchIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path out;

    @Test
    void shouldMeasureEveryTargetAndWriteTablesJsonAndCharts() throws IOException {
        // given
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        BenchCommand bench = new BenchCommand().printTo(new PrintStream(printed, true, StandardCharsets.UTF_8));
        // one variant of the proxy's options, a target of its own beside the proxy
        List<String> expectedTargets = new ArrayList<>(List.of(Target.DIRECT, Target.TAP_PROXY,
                Target.TAP_PROXY + "-small"));
        if (BenchEnvironment.findNginx(null).isPresent()) {
            expectedTargets.add(Target.NGINX);
        }

        // when
        // read as the launcher reads it, with no environment
        int exit = Cli.execute(bench, new String[] {"--quick", "--scenario", "latency,streams,saturation",
                "--out", out.toString(), "--rounds", "1", "--latency-requests", "20",
                "--streams-concurrency", "16", "--streams-duration", "2s", "--streams-tokens", "16",
                "--ttft", "20ms", "--itl", "5ms", "--saturation-period", "500ms", "--saturation-max-concurrency", "4",
                "--proxy-variant", "small=-Xmx64m"},
                Map.of());

        // then
        String table = printed.toString(StandardCharsets.UTF_8);
        assertThat(exit).as(table).isZero();
        assertThat(table).contains("added over direct", "against direct", "peak req/s");

        JsonNode run = JSON.readTree(out.resolve("run.json").toFile());
        assertThat(run.path("tap_proxy_jvm_options")).isNotEmpty();

        JsonNode latency = JSON.readTree(out.resolve("latency.json").toFile());
        for (String target : expectedTargets) {
            JsonNode figures = latency.path("targets").path(target);
            assertThat(figures.path("requests").asLong()).as(target).isEqualTo(40);
            assertThat(figures.path("failures").asLong()).as(target).isZero();
            assertThat(figures.path("completion").path("count").asLong()).as(target).isEqualTo(20);
            assertThat(figures.path("completion").path("p50").asDouble()).as(target).isPositive();
            if (ProcStat.available()) {
                assertThat(figures.path("cpuMicrosPerRequest").asDouble()).as(target).isPositive();
                assertThat(figures.path("sleepsPerRequest").asDouble()).as(target).isPositive();
            }
        }
        assertThat(latency.path("addedVsDirect").path(Target.TAP_PROXY).has("completionP99Micros")).isTrue();
        assertThat(latency.path("addedVsDirect").path(Target.TAP_PROXY).has("firstByteP50Micros")).isTrue();

        JsonNode streams = JSON.readTree(out.resolve("streams.json").toFile());
        for (String target : expectedTargets) {
            JsonNode figures = streams.path("targets").path(target);
            assertThat(figures.path("streams").asLong()).as(target).isPositive();
            assertThat(figures.path("failures").asLong()).as(target).isZero();
            assertThat(figures.path("tokenEvents").asLong()).as(target)
                    .isEqualTo(figures.path("streams").asLong() * 16);
            assertThat(figures.path("interToken").path("p50").asDouble()).as(target).isPositive();
        }
        assertThat(streams.path("vsDirect").path(Target.TAP_PROXY).path("completedRatio").asDouble()).isPositive();
        if (ProcStat.available()) {
            assertThat(streams.path("proxyPeakRssMib").asDouble()).isGreaterThan(16);
        }

        JsonNode saturation = JSON.readTree(out.resolve("saturation.json").toFile());
        for (String target : expectedTargets) {
            JsonNode figures = saturation.path("targets").path(target);
            assertThat(figures.path("levels")).as(target).isNotEmpty();
            assertThat(figures.path("failures").asLong()).as(target).isZero();
            assertThat(figures.path("peakRequestsPerSecond").asDouble()).as(target).isPositive();
            if (ProcStat.available()) {
                assertThat(figures.path("cpuSecondsPer1000AtPeak").asDouble()).as(target).isPositive();
            }
        }

        for (String chart : List.of("latency-completion-cdf.png", "latency-stream-ttfb-cdf.png",
                "streams-ttft-cdf.png", "streams-inter-token-cdf.png", "saturation-throughput.png")) {
            BufferedImage image = ImageIO.read(out.resolve(chart).toFile());
            assertThat(image).as(chart).isNotNull();
            assertThat(image.getWidth()).as(chart).isEqualTo(960);
        }
    }

    @Test
    void shouldStartEveryTargetAfreshAndFollowItsFirstSeconds() throws IOException {
        // given two variants (a 'cds' one needs the bench run from its jar: the JVM archives no class directory)
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        BenchCommand bench = new BenchCommand().printTo(new PrintStream(printed, true, StandardCharsets.UTF_8));

        // when
        int exit = Cli.execute(bench, new String[] {"--scenario", "warmup", "--out", out.toString(),
                "--warmup-duration", "2s", "--warmup-repetitions", "1", "--warmup-concurrency", "2",
                "--warmup-variant", "c1=-XX:TieredStopAtLevel=1", "--warmup-variant", "plain="}, Map.of());

        // then
        String table = printed.toString(StandardCharsets.UTF_8);
        assertThat(exit).as(table).isZero();
        assertThat(table).contains("1st ans. s", "steady r/s");
        JsonNode warmup = JSON.readTree(out.resolve("warmup.json").toFile());
        assertThat(warmup.path("targets").path(Target.DIRECT).path("served").asDouble()).isPositive();
        for (String target : List.of(Target.DIRECT, "c1", "plain")) {
            JsonNode figures = warmup.path("targets").path(target);
            // a fresh proxy on a busy machine may answer nothing in its first 2 s: its first answer is checked
            assertThat(figures.path("failures").asLong()).as(target).isZero();
            assertThat(figures.path("curve")).as(target).hasSize(2);
        }
        for (String proxy : List.of("c1", "plain")) {
            JsonNode figures = warmup.path("targets").path(proxy);
            assertThat(figures.path("readySeconds").asDouble()).as(proxy).isPositive();
            assertThat(figures.path("firstAnswerSeconds").asDouble()).as(proxy)
                    .isGreaterThan(figures.path("readySeconds").asDouble());
            assertThat(figures.path("rssMib").asDouble()).as(proxy).isGreaterThan(16);
        }
        assertThat(out.resolve("warmup-requests-per-second.png")).isNotEmptyFile();
    }
}
