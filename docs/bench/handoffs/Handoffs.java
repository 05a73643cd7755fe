import java.nio.file.Path;
import java.time.Instant;
import java.util.*;
import jdk.jfr.consumer.*;

/**
 * Reads a proxy's JFR recording of the bench's latency scenario (socket reads and writes, file writes and thread
 * parks recorded at threshold 0) and rebuilds each request's timeline: which thread read the request, wrote it
 * upstream, read the answer, wrote the spool's record and the answer's end, and the time between them.
 * A request starts with a read of the client's socket; the scenario alternates a completion and a streamed chat.
 *
 * <p>{@code java docs/bench/handoffs/Handoffs.java RECORDING.jfr [REQUESTS TO SKIP, default 1000]}
 */
public class Handoffs {
    record Ev(long start, long end, String kind, String thread, long bytes) {}

    static long ns(Instant i) { return i.getEpochSecond() * 1_000_000_000L + i.getNano(); }

    static String side(RecordedEvent e) {
        RecordedStackTrace st = e.getStackTrace();
        if (st == null) return "?";
        for (RecordedFrame f : st.getFrames()) {
            String c = f.getMethod().getType().getName();
            if (c.startsWith("org.eclipse.jetty.client")) return "up";
            if (c.startsWith("org.eclipse.jetty.server")) return "cl";
        }
        return "?";
    }

    public static void main(String[] a) throws Exception {
        List<Ev> evs = new ArrayList<>();
        Map<String, long[]> parks = new TreeMap<>();
        long firstSocket = Long.MAX_VALUE;
        try (RecordingFile rf = new RecordingFile(Path.of(a[0]))) {
            while (rf.hasMoreEvents()) {
                RecordedEvent e = rf.readEvent();
                String type = e.getEventType().getName();
                RecordedThread t = e.getThread();
                String th = t == null ? "?" : t.getJavaName();
                if (th == null) th = "?";
                if (th.startsWith("kafka") || th.contains("admin")) continue;
                long s = ns(e.getStartTime()), en = ns(e.getEndTime());
                switch (type) {
                    case "jdk.SocketRead" -> {
                        long b = e.getLong("bytesRead");
                        String sd = side(e);
                        evs.add(new Ev(s, en, sd + (b > 0 ? "R" : "r0"), th, b));
                    }
                    case "jdk.SocketWrite" -> evs.add(new Ev(s, en, side(e) + "W", th, e.getLong("bytesWritten")));
                    case "jdk.FileWrite" -> { if (th.contains("spool-writer")) evs.add(new Ev(s, en, "FW", th, e.getLong("bytesWritten"))); }
                    case "jdk.ThreadPark" -> {
                        String key = th.replaceAll("-\\d+$", "-N") + " on " + (e.getClass("parkedClass") == null ? "?" : e.getClass("parkedClass").getName());
                        long[] v = parks.computeIfAbsent(key, k -> new long[2]);
                        v[0]++; v[1] += en - s;
                    }
                    default -> {}
                }
            }
        }
        evs.sort(Comparator.comparingLong(Ev::start));
        // requests: a client-side read with bytes starts one
        List<List<Ev>> reqs = new ArrayList<>();
        List<Ev> cur = null;
        for (Ev e : evs) {
            if (e.kind.equals("clR")) { cur = new ArrayList<>(); reqs.add(cur); }
            if (cur != null) cur.add(e);
        }
        // skip the first half (warm-up) as the bench does
        int from = Integer.parseInt(a.length > 1 ? a[1] : "1000");
        Map<String, List<Double>> stats = new TreeMap<>();
        Map<String, Integer> threadCounts = new TreeMap<>();
        Map<String, Integer> patterns = new HashMap<>();
        for (int i = from; i < reqs.size(); i++) {
            List<Ev> r = reqs.get(i);
            String kind = (i % 2 == 0) ? "completion" : "stream";
            Ev in = r.get(0);
            Ev firstUpW = null, lastUpR = null, firstUpR = null, lastClW = null, fw = null, firstClW = null;
            Set<String> threads = new LinkedHashSet<>();
            StringBuilder pat = new StringBuilder();
            String prevTh = null;
            for (Ev e : r) {
                if (e.kind.endsWith("r0")) continue;
                threads.add(e.thread.replaceAll("-\\d+$", "") + "#" + e.thread.replaceAll(".*-", ""));
                if (!e.thread.equals(prevTh)) { pat.append(prevTh == null ? "" : " | ").append(e.thread.replaceAll("tap-proxy-", "P")).append(":"); prevTh = e.thread; }
                pat.append(e.kind).append(",");
                switch (e.kind) {
                    case "upW" -> { if (firstUpW == null) firstUpW = e; }
                    case "upR" -> { if (firstUpR == null) firstUpR = e; lastUpR = e; }
                    case "clW" -> { if (firstClW == null) firstClW = e; lastClW = e; }
                    case "FW" -> { if (fw == null) fw = e; }
                }
            }
            if (firstUpW == null || lastUpR == null || lastClW == null) continue;
            add(stats, kind + " 1 client request read -> upstream write start", firstUpW.start - in.end);
            add(stats, kind + " 2 upstream write end -> first upstream read end (simulator)", firstUpR.end - firstUpW.end);
            add(stats, kind + " 3 first upstream read end -> first client write start", firstClW.start - firstUpR.end);
            add(stats, kind + " 4 last upstream read end -> last client write start", lastClW.start - lastUpR.end);
            if (fw != null) {
                add(stats, kind + " 4a last upstream read end -> spool file write start", fw.start - lastUpR.end);
                add(stats, kind + " 4b spool file write", fw.end - fw.start);
                add(stats, kind + " 4c spool file write end -> last client write start", lastClW.start - fw.end);
            }
            add(stats, kind + " 5 last client write duration", lastClW.end - lastClW.start);
            add(stats, kind + " 9 proxy total: client read end -> last client write end, minus simulator", (lastClW.end - in.end) - (firstUpR.end - firstUpW.end));
            threadCounts.merge(kind + " threads=" + threads.size(), 1, Integer::sum);
            if (i < from + 6) System.out.println(kind + ": " + pat);
            patterns.merge(kind + ": " + pat.toString().replaceAll("P\\d+", "P").replaceAll("(clW,)+", "clW*,").replaceAll("(upR,)+", "upR*,"), 1, Integer::sum);
        }
        System.out.println("requests seen " + reqs.size() + ", analysed from " + from);
        stats.forEach((k, v) -> {
            Collections.sort(v);
            System.out.printf("%-85s n=%5d p50=%8.1f p90=%8.1f p99=%8.1f us%n", k, v.size(), v.get(v.size() / 2), v.get(v.size() * 9 / 10), v.get(v.size() * 99 / 100));
        });
        threadCounts.forEach((k, v) -> System.out.println(k + ": " + v));
        patterns.entrySet().stream().sorted((x, y) -> y.getValue() - x.getValue()).limit(8)
                .forEach(e -> System.out.println(e.getValue() + "x " + e.getKey()));
        System.out.println("thread parks (count, total ms):");
        parks.forEach((k, v) -> { if (v[0] > 50) System.out.printf("  %-80s %7d %10.1f%n", k, v[0], v[1] / 1e6); });
    }

    static void add(Map<String, List<Double>> m, String k, long nanos) {
        m.computeIfAbsent(k, x -> new ArrayList<>()).add(nanos / 1000.0);
    }
}
