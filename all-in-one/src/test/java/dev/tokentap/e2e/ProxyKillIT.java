package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.bench.ChildProcess;
import dev.tokentap.bench.JvmOptions;
import dev.tokentap.proxy.TapProxyMain;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tap-proxy in a JVM of its own (the image's JVM options), killed with SIGKILL again and again under load from
 * several clients, each time started again on the same spool directory and ports. No request a client was answered
 * 200 for, whole, may be missing from the aggregator's {@code /metrics} and the enriched topic, and none may be
 * there twice; a request cut by the kill may be counted (its event was written before its last bytes), once.
 *
 * <p>{@code -Dtokentap.kills} sets how many kills (5 by default).
 */
class ProxyKillIT {

    static final int KILLS = Integer.getInteger("tokentap.kills", 5);
    static final String HOSTNAME = "tap-killed";
    /** Where the proxies' own output goes, kept after the run to read when the test fails. */
    static final Path LOGS = Path.of("target", "proxy-process");

    @TempDir
    Path kafkaDir;
    @TempDir
    Path stateDir;
    @TempDir
    Path spoolDir;

    private EmbeddedKafka kafka;
    private VllmSimulator sim;
    private Aggregator aggregator;
    private UsageLedger ledger;
    private KillDrill drill;
    private int proxyPort;
    private int adminPort;

    @BeforeEach
    void startBrokerSimulatorAndAggregator() throws IOException {
        kafka = EmbeddedKafka.builder().dataDir(kafkaDir).partitions(3).build().start();
        ledger = new UsageLedger(kafka.bootstrapServers());
        sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1)).build().start();
        aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(),
                "--listen", "127.0.0.1", "--port", "0", "--state-dir", stateDir.toString(), "--topic-partitions", "3",
                "--kubernetes", "off"));
        assertThat(aggregator.awaitRunning(UsageLedger.WAIT)).isTrue();
        proxyPort = ChildProcess.freePort();
        adminPort = ChildProcess.freePort();
        drill = new KillDrill(ledger, proxyPort, HOSTNAME, sim.models().get(0));
    }

    @AfterEach
    void stopEverything() throws InterruptedException {
        if (drill != null) drill.close();
        if (aggregator != null) aggregator.close();
        if (sim != null) sim.close();
        if (kafka != null) kafka.close();
    }

    @Test
    void shouldLoseNoAnsweredRequestWhenTheProxyIsKilledUnderLoad() throws Exception {
        // given a proxy answering several clients, a quarter of the requests streamed
        long start = System.nanoTime();

        // when it is killed without warning in the middle of that load, again and again, and each time started on
        // the same spool directory and ports
        drill.run(KILLS, this::startProxy);

        // then the last proxy delivers what its predecessors spooled, and every answered request is counted once
        UsageLedger.AnsweredFigures figures = ledger.awaitAnsweredExact(
                "tap-proxy killed (SIGKILL) " + KILLS + " times under load, restarted on the same spool",
                "kills=" + KILLS + " clients=" + KillDrill.CLIENTS + " load_seconds="
                        + TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start), List.of(aggregatorMetrics()));
        assertThat(figures.answered()).isGreaterThanOrEqualTo((KILLS + 1) * KillDrill.ANSWERS_PER_LIFE);
    }

    /** Starts tap-proxy as its jar would run, on the test's spool directory and ports, and waits until it is ready. */
    private ChildProcess startProxy(int life) throws IOException, InterruptedException {
        ChildProcess proxy = drill.track(ChildProcess.java("tap-proxy-" + life + "-" + ProcessHandle.current().pid(),
                JvmOptions.TAP_PROXY, JvmOptions.TAP_PROXY_ENVIRONMENT, TapProxyMain.class.getName(), List.of(
                        "--upstream", sim.baseUrl(),
                        "--kafka", kafka.bootstrapServers(),
                        "--listen", "127.0.0.1",
                        "--port", Integer.toString(proxyPort),
                        "--admin-port", Integer.toString(adminPort),
                        "--spool-dir", spoolDir.toAbsolutePath().toString(),
                        "--proxy-host", HOSTNAME,
                        "--api-key-hash-secret", "proxy-kill"),
                LOGS));
        proxy.awaitHttpOk(URI.create("http://127.0.0.1:" + adminPort + "/readyz"), UsageLedger.WAIT);
        return proxy;
    }

    private String aggregatorMetrics() {
        return "http://127.0.0.1:" + aggregator.port() + "/metrics";
    }
}
