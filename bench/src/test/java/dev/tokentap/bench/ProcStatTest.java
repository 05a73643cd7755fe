package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

class ProcStatTest {

    @Test
    void shouldAddUserAndSystemTicks() {
        String stat = "4242 (java) S 1 4242 4242 0 -1 4194560 12345 0 3 0 1500 250 7 9 20 0 42 0 100 123456 789";

        assertThat(ProcStat.cpuTicks(stat)).isEqualTo(1750);
    }

    @Test
    void shouldCountFieldsFromTheLastParenthesisWhenTheCommandHoldsSpacesAndParentheses() {
        String stat = "77 (nginx: worker (a) b) S 76 76 76 0 -1 4194624 10 0 0 0 31 12 0 0 20 0 1 0 5 1000 200";

        assertThat(ProcStat.cpuTicks(stat)).isEqualTo(43);
    }

    @Test
    void shouldRefuseWhatIsNoStatLine() {
        assertThatThrownBy(() -> ProcStat.cpuTicks("no parentheses here"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void shouldReadKibFieldsOfStatus() {
        String status = "Name:\tjava\nVmPeak:\t 4000000 kB\nVmHWM:\t  210000 kB\nVmRSS:\t  180512 kB\nThreads:\t40\n";

        assertThat(ProcStat.statusKib(status, "VmRSS")).isEqualTo(180_512);
        assertThat(ProcStat.statusKib(status, "VmHWM")).isEqualTo(210_000);
        assertThat(ProcStat.statusKib(status, "VmSwap")).isEqualTo(-1);
    }

    @Test
    void shouldSeeThisProcessUseCpuAndMemory() {
        if (!ProcStat.available()) {
            return;
        }
        long pid = ProcessHandle.current().pid();

        assertThat(ProcStat.cpuSeconds(pid)).isPositive();
        assertThat(ProcStat.statusKib(pid, "VmRSS")).isPositive();
        assertThat(ProcStat.clockTicksPerSecond()).isPositive();
    }

    @Test
    void shouldCountThisProcessThreadsRunTimeAndTheirSleeps() throws InterruptedException {
        if (!ProcStat.available()) {
            return;
        }
        long pid = ProcessHandle.current().pid();
        long[] before = ProcStat.threadRunNanosAndSleeps(pid);

        // when: a thread of this process goes to sleep of its own accord, ten times
        Thread sleeper = new Thread(() -> {
            for (int i = 0; i < 10; i++) {
                LockSupport.parkNanos(1_000_000);
            }
        });
        sleeper.start();
        long[] whileAlive = null;
        while (sleeper.isAlive()) {
            whileAlive = ProcStat.threadRunNanosAndSleeps(pid);
            sleeper.join(5);
        }

        // then (read while the sleeper was alive: an ended thread's counts leave the sums)
        assertThat(before[0]).isPositive();
        assertThat(ProcStat.threadRunNanosAndSleeps(pid)[0]).isGreaterThan(before[0]);
        assertThat(whileAlive).isNotNull();
        assertThat(whileAlive[1]).isGreaterThan(before[1]);
        assertThat(ProcStat.threadRunNanosAndSleeps(-1)).containsExactly(0, 0);
    }
}
