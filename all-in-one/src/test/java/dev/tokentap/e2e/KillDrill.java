package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.bench.ChildProcess;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Several clients sending requests through a proxy port while the process behind it is killed with SIGKILL and
 * started again on the same ports, life after life. Each life answers {@link #ANSWERS_PER_LIFE} requests before it is
 * killed, so that whenever the kill lands some request is between its upstream's end and its answer.
 */
final class KillDrill implements AutoCloseable {

    /** Enough clients that a kill always finds requests in flight. */
    static final int CLIENTS = 8;
    /** Answers each life gives before it is killed. */
    static final int ANSWERS_PER_LIFE = 200;

    /** Starts the process of one life, hands it to {@link #track} at once, and returns it once it is ready. */
    @FunctionalInterface
    interface Starter {
        ChildProcess start(int life) throws IOException, InterruptedException;
    }

    private final UsageLedger ledger;
    private final int proxyPort;
    private final String hostname;
    private final String model;
    private final Set<ChildProcess> alive = ConcurrentHashMap.newKeySet();
    private final ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
    private final AtomicBoolean loading = new AtomicBoolean(true);
    private final AtomicInteger answered = new AtomicInteger();

    KillDrill(UsageLedger ledger, int proxyPort, String hostname, String model) {
        this.ledger = ledger;
        this.proxyPort = proxyPort;
        this.hostname = hostname;
        this.model = model;
    }

    /**
     * Starts life 0 and loads it, a quarter of the requests streamed; kills it {@code kills} times, starting the next
     * life after each kill; returns once the last life has answered its share and every client has stopped.
     */
    void run(int kills, Starter starter) throws Exception {
        ChildProcess process = start(starter, 0);
        List<Future<?>> load = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            int client = c;
            load.add(clients.submit(() -> {
                for (int i = 0; loading.get(); i++) {
                    if (ledger.sendOne(proxyPort, hostname, model, (i + client) % 4 == 0,
                            Duration.ofSeconds(10))) {
                        answered.incrementAndGet();
                    } else {
                        // the process is down or restarting: try again shortly rather than spin
                        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
                    }
                }
                return null;
            }));
        }
        for (int kill = 1; kill <= kills; kill++) {
            awaitOneLifeOfAnswers();
            process.kill();
            alive.remove(process);
            assertThat(process.alive()).isFalse();
            process = start(starter, kill);
        }
        awaitOneLifeOfAnswers();
        loading.set(false);
        for (Future<?> client : load) {
            client.get(60, TimeUnit.SECONDS);
        }
    }

    /** Requests answered 200, whole, over every life. */
    int answered() {
        return answered.get();
    }

    /** A process of this drill, closed with it if it is still alive then (also one that never became ready). */
    ChildProcess track(ChildProcess process) {
        alive.add(process);
        return process;
    }

    private ChildProcess start(Starter starter, int life) throws IOException, InterruptedException {
        return track(starter.start(life));
    }

    private void awaitOneLifeOfAnswers() {
        int before = answered.get();
        await().atMost(UsageLedger.WAIT).until(() -> answered.get() >= before + ANSWERS_PER_LIFE);
    }

    @Override
    public void close() throws InterruptedException {
        loading.set(false);
        clients.shutdownNow();
        clients.awaitTermination(30, TimeUnit.SECONDS);
        alive.forEach(ChildProcess::close);
    }
}
