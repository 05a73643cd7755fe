package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.bench.ChildProcess;
import dev.tokentap.cli.TokentapMain;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tokentap run} (the embedded broker, the aggregator and the proxy in one JVM) killed with SIGKILL under load,
 * again and again, each time started again on the same data directory and ports: every request answered 200 is
 * counted once, by the aggregator of the last run, on its {@code /metrics} and its enriched topic.
 *
 * <p>A drill, run when {@code -Dtokentap.run.kills} says how many kills: each restart starts a broker and a Streams
 * application that restores its stores, and three kills take five minutes on a busy two-core machine, too long for
 * every build. {@code ProxyKillIT} kills the proxy alone in every build.
 */
@EnabledIfSystemProperty(named = "tokentap.run.kills", matches = "[1-9][0-9]*")
class RunKillIT {

    static final int KILLS = Integer.getInteger("tokentap.run.kills", 3);
    static final Path LOGS = Path.of("target", "run-process");

    @TempDir
    Path dataDir;

    private VllmSimulator sim;
    private UsageLedger ledger;
    private KillDrill drill;
    private int proxyPort;
    private int adminPort;
    private int aggregatorPort;
    private int kafkaPort;

    @BeforeEach
    void startSimulator() throws IOException {
        sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1)).build().start();
        proxyPort = ChildProcess.freePort();
        adminPort = ChildProcess.freePort();
        aggregatorPort = ChildProcess.freePort();
        // the broker's controller listens on the next port
        kafkaPort = ChildProcess.freePort();
        ledger = new UsageLedger("127.0.0.1:" + kafkaPort);
        drill = new KillDrill(ledger, proxyPort, localHostName(), sim.models().get(0));
    }

    @AfterEach
    void stopEverything() throws InterruptedException {
        if (drill != null) drill.close();
        if (sim != null) sim.close();
    }

    @Test
    void shouldLoseNoAnsweredRequestWhenTokentapRunIsKilledUnderLoad() throws Exception {
        // given tokentap run answering several clients, a quarter of the requests streamed
        long start = System.nanoTime();

        // when the whole process is killed without warning under that load, again and again, and each time
        // started on the same data directory and ports
        drill.run(KILLS, this::startRun);

        // then the last run counts every answered request once
        UsageLedger.AnsweredFigures figures = ledger.awaitAnsweredExact(
                "tokentap run killed (SIGKILL) " + KILLS + " times under load, restarted on the same data directory",
                "kills=" + KILLS + " clients=" + KillDrill.CLIENTS + " load_seconds="
                        + TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start),
                List.of("http://127.0.0.1:" + aggregatorPort + "/metrics"));
        assertThat(figures.answered()).isGreaterThanOrEqualTo((KILLS + 1) * KillDrill.ANSWERS_PER_LIFE);
    }

    /** Starts {@code tokentap run} as the jar would, and waits until its proxy and aggregator are ready. */
    private ChildProcess startRun(int life) throws IOException, InterruptedException {
        ChildProcess run = drill.track(ChildProcess.java("tokentap-run-" + life + "-" + ProcessHandle.current().pid(),
                List.of("-Xmx512m", "-XX:+UseSerialGC"), Map.of(), TokentapMain.class.getName(), List.of(
                        "run",
                        "--upstream", sim.baseUrl(),
                        "--listen", "127.0.0.1",
                        "--proxy-port", Integer.toString(proxyPort),
                        "--admin-port", Integer.toString(adminPort),
                        "--aggregator-port", Integer.toString(aggregatorPort),
                        "--embedded-kafka-port", Integer.toString(kafkaPort),
                        "--data-dir", dataDir.toAbsolutePath().toString()),
                LOGS));
        run.awaitHttpOk(URI.create("http://127.0.0.1:" + aggregatorPort + "/readyz"), UsageLedger.WAIT);
        run.awaitHttpOk(URI.create("http://127.0.0.1:" + adminPort + "/readyz"), UsageLedger.WAIT);
        return run;
    }

    /** The proxy's name in events when none is configured, as tap-proxy finds it. */
    private static String localHostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }
}
