package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.bench.ChildProcess;
import dev.tokentap.cli.TokentapMain;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
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
    static final int CLIENTS = 8;
    static final int ANSWERS_PER_LIFE = 200;
    static final Path LOGS = Path.of("target", "run-process");

    @TempDir
    Path dataDir;

    private final Set<ChildProcess> runs = ConcurrentHashMap.newKeySet();
    private final ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
    private final AtomicBoolean loading = new AtomicBoolean(true);
    private final AtomicInteger answered = new AtomicInteger();
    private VllmSimulator sim;
    private UsageLedger ledger;
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
    }

    @AfterEach
    void stopEverything() throws InterruptedException {
        loading.set(false);
        clients.shutdownNow();
        clients.awaitTermination(30, TimeUnit.SECONDS);
        runs.forEach(ChildProcess::close);
        if (sim != null) sim.close();
    }

    @Test
    void shouldLoseNoAnsweredRequestWhenTokentapRunIsKilledUnderLoad() throws Exception {
        // given tokentap run answering several clients, a quarter of the requests streamed
        long start = System.nanoTime();
        ChildProcess run = startRun(0);
        String hostname = localHostName();
        List<Future<?>> load = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            int client = c;
            load.add(clients.submit(() -> {
                for (int i = 0; loading.get(); i++) {
                    if (ledger.sendOne(proxyPort, hostname, sim.models().get(0), (i + client) % 4 == 0,
                            Duration.ofSeconds(10))) {
                        answered.incrementAndGet();
                    } else {
                        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
                    }
                }
                return null;
            }));
        }

        // when the whole process is killed without warning under that load, again and again, and each time
        // started on the same data directory and ports
        for (int kill = 1; kill <= KILLS; kill++) {
            int before = answered.get();
            await().atMost(UsageLedger.WAIT).until(() -> answered.get() >= before + ANSWERS_PER_LIFE);
            run.kill();
            runs.remove(run);
            run = startRun(kill);
        }
        int before = answered.get();
        await().atMost(UsageLedger.WAIT).until(() -> answered.get() >= before + ANSWERS_PER_LIFE);
        loading.set(false);
        for (Future<?> client : load) {
            client.get(60, TimeUnit.SECONDS);
        }

        // then the last run counts every answered request once
        UsageLedger.AnsweredFigures figures = ledger.awaitAnsweredExact(
                "tokentap run killed (SIGKILL) " + KILLS + " times under load, restarted on the same data directory",
                "kills=" + KILLS + " clients=" + CLIENTS + " load_seconds="
                        + TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start),
                List.of("http://127.0.0.1:" + aggregatorPort + "/metrics"));
        assertThat(figures.answered()).isGreaterThanOrEqualTo((KILLS + 1) * ANSWERS_PER_LIFE);
    }

    /** Starts {@code tokentap run} as the jar would, and waits until its proxy and aggregator are ready. */
    private ChildProcess startRun(int life) throws IOException, InterruptedException {
        ChildProcess run = ChildProcess.java("tokentap-run-" + life + "-" + ProcessHandle.current().pid(),
                List.of("-Xmx512m", "-XX:+UseSerialGC"), Map.of(), TokentapMain.class.getName(), List.of(
                        "run",
                        "--upstream", sim.baseUrl(),
                        "--listen", "127.0.0.1",
                        "--proxy-port", Integer.toString(proxyPort),
                        "--admin-port", Integer.toString(adminPort),
                        "--aggregator-port", Integer.toString(aggregatorPort),
                        "--embedded-kafka-port", Integer.toString(kafkaPort),
                        "--data-dir", dataDir.toAbsolutePath().toString()),
                LOGS);
        runs.add(run);
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
