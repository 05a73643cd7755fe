package dev.tokentap.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Reads a process's CPU time and resident set from /proc; the parsing is pure so it can be tested on text. */
public final class ProcStat {

    /** Linux has reported 100 ticks per second on every mainstream architecture for decades; getconf confirms. */
    private static final long DEFAULT_CLOCK_TICKS = 100;
    private static volatile long clockTicks;

    private ProcStat() {
    }

    /**
     * utime + stime, in clock ticks, from one line of {@code /proc/PID/stat}. The command name (field 2) is in
     * parentheses and may itself hold spaces or parentheses, so fields are counted from the last ')'.
     */
    public static long cpuTicks(String statLine) {
        int close = statLine.lastIndexOf(')');
        if (close < 0) {
            throw new IllegalArgumentException("not a /proc/PID/stat line: " + statLine);
        }
        String[] rest = statLine.substring(close + 1).trim().split("\\s+");
        // rest[0] is field 3 (state); utime is field 14 and stime field 15
        if (rest.length < 13) {
            throw new IllegalArgumentException("too few fields in /proc/PID/stat line: " + statLine);
        }
        return Long.parseLong(rest[11]) + Long.parseLong(rest[12]);
    }

    /** A {@code kB} field of {@code /proc/PID/status}, such as {@code VmRSS} or {@code VmHWM}; -1 if absent. */
    public static long statusKib(String status, String field) {
        for (String line : status.split("\n")) {
            if (line.startsWith(field + ":")) {
                String value = line.substring(field.length() + 1).trim();
                int space = value.indexOf(' ');
                return Long.parseLong(space < 0 ? value : value.substring(0, space));
            }
        }
        return -1;
    }

    /** CPU seconds (user + system) a live process has used so far; 0 once it is gone. */
    public static double cpuSeconds(long pid) {
        try {
            return cpuTicks(Files.readString(Path.of("/proc", Long.toString(pid), "stat")))
                    / (double) clockTicksPerSecond();
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * Over the live threads of a process: nanoseconds they have run on a CPU ({@code schedstat}, exact where
     * {@code stat}'s ticks are 10 ms) and times they went to sleep of their own accord
     * ({@code voluntary_ctxt_switches}: each a park or a wait that another thread, or the kernel, ends with a
     * wake-up). Threads that have ended are not counted. {0, 0} once the process is gone.
     */
    public static long[] threadRunNanosAndSleeps(long pid) {
        long[] sums = new long[2];
        Path tasks = Path.of("/proc", Long.toString(pid), "task");
        try (var dirs = Files.newDirectoryStream(tasks)) {
            for (Path task : dirs) {
                try {
                    String schedstat = Files.readString(task.resolve("schedstat"));
                    sums[0] += Long.parseLong(schedstat.substring(0, schedstat.indexOf(' ')));
                    for (String line : Files.readAllLines(task.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            sums[1] += Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    // the thread ended while it was read
                }
            }
        } catch (IOException e) {
            return new long[2];
        }
        return sums;
    }

    /** A {@code kB} field of a live process's status; -1 if the process is gone or /proc is absent. */
    public static long statusKib(long pid, String field) {
        try {
            return statusKib(Files.readString(Path.of("/proc", Long.toString(pid), "status")), field);
        } catch (IOException e) {
            return -1;
        }
    }

    /** Whether CPU and memory figures can be read at all (Linux). */
    public static boolean available() {
        return Files.isReadable(Path.of("/proc/self/stat"));
    }

    /** USER_HZ, from {@code getconf CLK_TCK} once (Java has no sysconf), else 100. */
    public static long clockTicksPerSecond() {
        long ticks = clockTicks;
        if (ticks == 0) {
            ticks = readClockTicks();
            clockTicks = ticks;
        }
        return ticks;
    }

    private static long readClockTicks() {
        try {
            Process process = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes()).trim();
            if (process.waitFor(5, TimeUnit.SECONDS) && process.exitValue() == 0) {
                return Long.parseLong(out);
            }
        } catch (IOException | NumberFormatException e) {
            // falls back below
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return DEFAULT_CLOCK_TICKS;
    }
}
