package dev.tokentap.bench.aggregator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.tokentap.bench.ProcStat;
import dev.tokentap.bench.ThreadCpu;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

class DrainCpuTest {

    @Test
    void shouldGroupTheThreadsOfABenchJvmByWhatTheyServe() {
        // names as jcmd Thread.print and /proc gave them during a drain
        Map<String, String> expected = Map.ofEntries(
                Map.entry("tokentap-aggregator-7156937f-5632-47f7-9b72-4f2396f2a202-StreamThread-1", "stream threads"),
                Map.entry("tokentap-aggregator-7156937f-5632-47f7-9b72-4f2396f2a202-StreamThread-2", "stream threads"),
                Map.entry("kafka-producer-network-thread | tokentap-aggregator-7156937f-5632-47f7-9b72-4f2396f2a202"
                        + "-StreamThread-1-producer", "Streams' producers (I/O)"),
                Map.entry("kafka-coordinator-heartbeat-thread | tokentap-aggregator", "Streams' consumers and admin"),
                Map.entry("data-plane-kafka-request-handler-0", "broker: request handlers"),
                Map.entry("data-plane-kafka-network-thread-1-PLAINTEXT-PLAINTEXT-1", "broker: network"),
                Map.entry("TxnMarkerSenderThread-1", "broker: transactions, groups"),
                Map.entry("AddPartitionsToTxnSenderThread-1", "broker: transactions, groups"),
                Map.entry("group-coordinator-event-processor-3", "broker: transactions, groups"),
                Map.entry("kafka-1-raft-io-thread", "broker: log, controller, other"),
                Map.entry("kafka-scheduler-1", "broker: log, controller, other"),
                Map.entry("rocksdb:low", "RocksDB (native)"),
                Map.entry("C2 CompilerThread0", "JIT compilers"),
                Map.entry("G1 Conc#0", "GC and VM"),
                Map.entry("VM Thread", "GC and VM"),
                Map.entry("JettyServerThreadPool-91", "aggregator HTTP (/metrics)"),
                Map.entry("kafka-producer-network-thread | tokentap-bench", "bench: generator, scrapes"),
                Map.entry("HttpClient-2-SelectorManager", "bench: generator, scrapes"),
                Map.entry("main", "bench: generator, scrapes"));

        expected.forEach((name, group) -> assertThat(DrainCpu.group(name)).as(name).isEqualTo(group));
        assertThat(DrainCpu.GROUPS).containsAll(expected.values());
    }

    @Test
    void shouldChargeAThreadsCpuWithinTheWindowToItsGroup() {
        assumeThat(ProcStat.available()).isTrue();
        // given: a stream-thread-like thread of this JVM that burns CPU until told to stop
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong spins = new AtomicLong();
        Thread busy = new Thread(() -> {
            while (!stop.get()) {
                spins.incrementAndGet();
            }
        }, "test-StreamThread-1");
        busy.start();
        try {
            Map<Long, ThreadCpu.Task> before = DrainCpu.snapshot();
            long startSpins = spins.get();
            // when
            Awaitility.await().until(() -> spins.get() > startSpins + 50_000_000L);
            DrainCpu cpu = DrainCpu.between(before, DrainCpu.snapshot(), 1.0, 1_000);

            // then
            assertThat(cpu.cpuSeconds()).containsKey("stream threads");
            assertThat(cpu.cpuSeconds().get("stream threads")).isPositive();
            assertThat(cpu.microsPerEvent().get("stream threads"))
                    .isEqualTo(cpu.cpuSeconds().get("stream threads") * 1e6 / 1_000);
        } finally {
            stop.set(true);
        }
    }
}
