package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ThreadCpuTest {

    @Test
    void shouldReadFullNamesAndNativeIdsFromAThreadDump() {
        String dump = """
                "tap-proxy-128" #61 prio=5 os_prio=0 cpu=29.83ms elapsed=95.21s tid=0x00007f2c nid=0x1a2b runnable
                "kafka-producer-network-thread | tokentap-proxy-vm" #70 daemon prio=5 os_prio=0 cpu=10.14ms \
                elapsed=90.00s tid=0x00007f2d nid=4711 runnable
                   java.lang.Thread.State: RUNNABLE
                "VM Thread" os_prio=0 cpu=914.97ms elapsed=99.00s tid=0x00007f2e nid=0x10 runnable
                """;

        Map<Long, String> threads = ThreadCpu.parseThreadPrint(dump);

        assertThat(threads).containsOnly(Map.entry(0x1a2bL, "tap-proxy-128"),
                Map.entry(4711L, "kafka-producer-network-thread | tokentap-proxy-vm"), Map.entry(0x10L, "VM Thread"));
    }

    @Test
    void shouldPickTheProxysThreadsByName() {
        assertThat(List.of("tap-proxy-128", "tap-proxy-116-acceptor-0@5ac7a95c", "tokentap-spool-writer",
                "tokentap-publisher", "tokentap-kafka-watch", "kafka-producer-network-thread | tokentap-proxy-vm"))
                .allMatch(ThreadCpu.PROXY);
        assertThat(List.of("kafka-producer-network-thread | tokentap-aggregator-1-StreamThread-1-producer",
                "tokentap-aggregator-1-StreamThread-1", "data-plane-kafka-request-handler-0", "C2 CompilerThread0",
                "VM Thread")).noneMatch(ThreadCpu.PROXY);
    }

    @Test
    void shouldCountTheCpuOfTheNamedThreadsOfALiveJvmOnly() throws InterruptedException {
        assumeThat(ProcStat.available()).isTrue();
        // given: a thread of this JVM that burns CPU until told to stop
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicLong spins = new java.util.concurrent.atomic.AtomicLong();
        Thread busy = new Thread(() -> {
            while (!stop.get()) {
                spins.incrementAndGet();
            }
        }, "thread-cpu-test-busy");
        busy.start();
        ThreadCpu cpu = new ThreadCpu();
        List<Long> self = List.of(ProcessHandle.current().pid());
        try {
            // when
            org.awaitility.Awaitility.await().until(() -> spins.get() > 50_000_000L);

            // then
            assertThat(cpu.seconds(self, "thread-cpu-test-busy"::equals)).isPositive();
            assertThat(cpu.seconds(self, "no such thread"::equals)).isZero();
        } finally {
            stop.set(true);
            busy.join();
        }
    }
}
