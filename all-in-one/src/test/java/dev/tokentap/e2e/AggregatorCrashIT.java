package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.proxy.TapProxy;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The aggregator killed without warning (SIGKILL, in a JVM of its own) in the middle of steady load, and a new one
 * started on the same state directory: its open transaction and its local state are left as a crash leaves them.
 * Ends with the exact comparison of {@code /metrics} and the enriched topic; prints a {@code FIGURES} line.
 */
class AggregatorCrashIT {

    static final String HOSTNAME = "tap-crash";
    static final Duration LOAD_INTERVAL = Duration.ofMillis(10);
    /**
     * Longer than the default 100 ms so that the kill lands, almost surely, on a second or so of processed but
     * uncommitted usage: enriched records sent, totals updated, input offsets not yet committed.
     */
    static final String COMMIT_INTERVAL = "2s";
    /** Where the aggregators' own output goes, kept after the run to read when the test fails. */
    static final Path LOGS = Path.of("target", "aggregator-process");

    @TempDir
    Path kafkaDir;
    @TempDir
    Path stateDir;

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<AggregatorProcess> aggregators = new ArrayList<>();
    private final ScheduledExecutorService loader = Executors.newSingleThreadScheduledExecutor();
    private final AtomicReference<Throwable> loadFailure = new AtomicReference<>();
    private EmbeddedKafka kafka;
    private VllmSimulator sim;
    private TapProxy proxy;
    private UsageLedger ledger;

    @BeforeEach
    void startBrokerSimulatorAndProxy() {
        kafka = EmbeddedKafka.builder().dataDir(kafkaDir).partitions(3).build().start();
        ledger = new UsageLedger(kafka.bootstrapServers());
        sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1)).build().start();
        proxy = TapProxy.start(ProxyConfigs.loopback(sim.baseUrl(), kafka.bootstrapServers(),
                "--api-key-hash-secret", "aggregator-crash", "--proxy-host", HOSTNAME));
    }

    @AfterEach
    void stopEverything() throws InterruptedException {
        loader.shutdownNow();
        loader.awaitTermination(30, TimeUnit.SECONDS);
        // child JVMs outlive a failed test unless they are killed here
        aggregators.forEach(AggregatorProcess::close);
        if (proxy != null) proxy.close(Duration.ofSeconds(2));
        if (sim != null) sim.close();
        if (kafka != null) kafka.close();
    }

    @Test
    void shouldCountEveryRequestOnceWhenTheAggregatorIsKilledMidLoad() throws Exception {
        // given an aggregator counting steady load
        AggregatorProcess first = startAggregator("first");
        ScheduledFuture<?> load = startLoad();
        await().atMost(UsageLedger.WAIT).until(() -> requestsCounted(first) >= 20);

        // when it is killed without warning while the load goes on, and a new one starts on the same state
        int sentBeforeKill = ledger.size();
        first.kill();
        assertThat(first.alive()).isFalse();
        AggregatorProcess second = startAggregator("second");
        int sentWhileDown = ledger.size() - sentBeforeKill;
        // it counts the load that is still coming before the load ends
        int sentOnRestart = ledger.size();
        await().atMost(UsageLedger.WAIT).until(() -> requestsCounted(second) > sentOnRestart);
        stopLoad(load);

        // then
        ledger.awaitExact("aggregator killed (SIGKILL) mid-load, a new one on the same state directory",
                "counted_by_the_first_before_the_kill>=20 sent_while_no_aggregator_was_ready=" + sentWhileDown,
                List.of(second.metricsUrl()));
    }

    private AggregatorProcess startAggregator(String name) throws IOException, InterruptedException {
        AggregatorProcess aggregator = AggregatorProcess.start(kafka.bootstrapServers(), stateDir, LOGS,
                "crash-" + name + "-" + ProcessHandle.current().pid(), "--commit-interval", COMMIT_INTERVAL);
        aggregators.add(aggregator);
        return aggregator;
    }

    /**
     * One client sending requests one after the other with a pause of {@link #LOAD_INTERVAL} between them: steady,
     * and light enough on the two cores of a build machine that the aggregator's JVM still starts in a few seconds.
     */
    private ScheduledFuture<?> startLoad() {
        return loader.scheduleWithFixedDelay(() -> {
            try {
                ledger.send(proxy.port(), HOSTNAME, sim.models().get(0), 1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception | AssertionError e) {
                loadFailure.set(e);
                throw new IllegalStateException("the load failed", e);
            }
        }, 0, LOAD_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Stops the load once the request in flight, if any, has been answered and recorded. */
    private void stopLoad(ScheduledFuture<?> load) throws Exception {
        load.cancel(false);
        loader.submit(() -> { }).get(30, TimeUnit.SECONDS);
        assertThat(loadFailure.get()).as("a request of the load failed").isNull();
    }

    private long requestsCounted(AggregatorProcess aggregator) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(aggregator.metricsUrl()))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        return PrometheusText.parse(response.body()).sum("vllm_requests_total", Map.of());
    }
}
