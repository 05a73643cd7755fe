package dev.tokentap.bench;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * The run's figures side by side, one row per target, each beside nginx's where it has one: what the data-path
 * targets are stated in (CPU per short request and per streamed chunk, added latency, streams completed against
 * direct, bunching, peak requests/s, peak resident set). Built from whichever scenarios ran; a figure whose
 * scenario did not run is NaN.
 */
public final class Summary {

    /**
     * @param cpuMillisPerRequest       CPU ms of the target's process per short request, at its saturation peak
     * @param cpuSecondsPer1000Chunks   CPU s of the target's process per 1,000 streamed token events
     * @param addedP50Micros            added latency p50 of a short completion over direct
     * @param addedP99Micros            added latency p99 over direct
     * @param completedVsDirect         streams completed/s at the streams load over direct's
     * @param bunchedPer1000            token events within half an ITL of the previous one, per 1,000
     * @param peakRequestsPerSecond     the saturation peak of short requests
     * @param peakRssMib                the process's peak resident set during streams
     * @param proxyThreadsCpuMillisPerRequest     {@code cpuMillisPerRequest} of a tokentap proxy's threads alone
     * @param proxyThreadsCpuSecondsPer1000Chunks {@code cpuSecondsPer1000Chunks} of a tokentap proxy's threads alone
     */
    public record Row(double cpuMillisPerRequest, double cpuSecondsPer1000Chunks, double addedP50Micros,
                      double addedP99Micros, double completedVsDirect, double bunchedPer1000,
                      double peakRequestsPerSecond, double peakRssMib, double proxyThreadsCpuMillisPerRequest,
                      double proxyThreadsCpuSecondsPer1000Chunks) {
    }

    /**
     * @param rows       by target
     * @param vsNginx    each non-nginx target's rows divided by nginx's (for added latency: the difference is not
     *                   divided, since nginx's can be near zero; the ratio is still given)
     * @param vsTapProxy {@code tokentap run}'s rows divided by tap-proxy's, when both ran (its target: CPU per
     *                   request and per chunk of its proxy's threads within 1.2× tap-proxy's)
     */
    public record Result(String scenario, Map<String, Row> rows, Map<String, Row> vsNginx,
                         Map<String, Row> vsTapProxy) {
    }

    private Summary() {
    }

    /** Any of the three may be null when its scenario did not run. */
    public static Result of(LatencyScenario.Result latency, StreamsScenario.Result streams,
                            SaturationScenario.Result saturation) {
        Set<String> names = new LinkedHashSet<>();
        if (latency != null) {
            names.addAll(latency.targets().keySet());
        }
        if (streams != null) {
            names.addAll(streams.targets().keySet());
        }
        if (saturation != null) {
            names.addAll(saturation.targets().keySet());
        }
        Map<String, Row> rows = new LinkedHashMap<>();
        for (String name : names) {
            LatencyScenario.Added added = latency == null ? null : latency.addedVsDirect().get(name);
            StreamsScenario.TargetFigures stream = streams == null ? null : streams.targets().get(name);
            StreamsScenario.VsDirect streamVs = streams == null ? null : streams.vsDirect().get(name);
            SaturationScenario.TargetFigures sat = saturation == null ? null : saturation.targets().get(name);
            boolean direct = name.equals(Target.DIRECT);
            rows.put(name, new Row(
                    sat == null ? Double.NaN : sat.cpuSecondsPer1000AtPeak(),
                    stream == null ? Double.NaN : stream.cpuSecondsPer1000Chunks(),
                    direct ? 0 : added == null ? Double.NaN : added.completionP50Micros(),
                    direct ? 0 : added == null ? Double.NaN : added.completionP99Micros(),
                    direct ? (stream == null ? Double.NaN : 1) : streamVs == null ? Double.NaN
                            : streamVs.completedRatio(),
                    stream == null ? Double.NaN : stream.bunchedPer1000(),
                    sat == null ? Double.NaN : sat.peakRequestsPerSecond(),
                    stream == null ? Double.NaN : Math.max(stream.peakRssMib(), stream.kernelPeakRssMib()),
                    sat == null ? Double.NaN : sat.proxyThreadsCpuSecondsPer1000AtPeak(),
                    stream == null ? Double.NaN : stream.proxyThreadsCpuSecondsPer1000Chunks()));
        }
        Map<String, Row> vsNginx = new LinkedHashMap<>();
        Row nginx = rows.get(Target.NGINX);
        if (nginx != null) {
            rows.forEach((name, r) -> {
                if (!name.equals(Target.NGINX) && !name.equals(Target.DIRECT)) {
                    vsNginx.put(name, divided(r, nginx));
                }
            });
        }
        Map<String, Row> vsTapProxy = new LinkedHashMap<>();
        Row tapProxy = rows.get(Target.TAP_PROXY);
        Row run = rows.get(Target.TOKENTAP_RUN);
        if (tapProxy != null && run != null) {
            vsTapProxy.put(Target.TOKENTAP_RUN, divided(run, tapProxy));
        }
        return new Result("summary", rows, vsNginx, vsTapProxy);
    }

    /** Each figure of {@code r} over {@code base}'s. */
    private static Row divided(Row r, Row base) {
        return new Row(ratio(r.cpuMillisPerRequest(), base.cpuMillisPerRequest()),
                ratio(r.cpuSecondsPer1000Chunks(), base.cpuSecondsPer1000Chunks()),
                ratio(r.addedP50Micros(), base.addedP50Micros()),
                ratio(r.addedP99Micros(), base.addedP99Micros()),
                ratio(r.completedVsDirect(), base.completedVsDirect()),
                ratio(r.bunchedPer1000(), base.bunchedPer1000()),
                ratio(r.peakRequestsPerSecond(), base.peakRequestsPerSecond()),
                ratio(r.peakRssMib(), base.peakRssMib()),
                ratio(r.proxyThreadsCpuMillisPerRequest(), base.proxyThreadsCpuMillisPerRequest()),
                ratio(r.proxyThreadsCpuSecondsPer1000Chunks(), base.proxyThreadsCpuSecondsPer1000Chunks()));
    }

    private static double ratio(double a, double b) {
        return Stats.round(Stats.ratio(a, b), 3);
    }

    static void print(Result result, PrintStream out) {
        out.println();
        out.println("summary: the data path's figures, each target in the same run");
        String head = "%-16s %11s %12s %10s %10s %10s %10s %10s %9s%n";
        out.printf(head, "target", "cpu ms/req", "cpu s/1k chk", "added p50", "added p99", "done/dir",
                "bunch/1k", "peak r/s", "rss MiB");
        result.rows().forEach((name, r) -> out.printf("%-16s %11.4f %12.4f %10.1f %10.1f %10.3f %10.1f %10.0f %9.1f%n",
                name, r.cpuMillisPerRequest(), r.cpuSecondsPer1000Chunks(), r.addedP50Micros(), r.addedP99Micros(),
                r.completedVsDirect(), r.bunchedPer1000(), r.peakRequestsPerSecond(), r.peakRssMib()));
        if (!result.vsNginx().isEmpty()) {
            out.println("as a multiple of nginx's (targets: cpu/req <= 3, cpu/chunk <= 2, done/dir >= 0.99 of direct,"
                    + " bunching <= 2, peak r/s >= 0.5; added p50 <= 300 us, p99 <= 1,500 us; rss <= 160 MiB)");
            result.vsNginx().forEach((name, r) -> out.printf(
                    "%-16s %11.2f %12.2f %10.1f %10.1f %10.3f %10.2f %10.3f %9.1f%n", name, r.cpuMillisPerRequest(),
                    r.cpuSecondsPer1000Chunks(), r.addedP50Micros(), r.addedP99Micros(), r.completedVsDirect(),
                    r.bunchedPer1000(), r.peakRequestsPerSecond(), r.peakRssMib()));
        }
        boolean proxies = result.rows().values().stream()
                .anyMatch(r -> !Double.isNaN(r.proxyThreadsCpuMillisPerRequest())
                        || !Double.isNaN(r.proxyThreadsCpuSecondsPer1000Chunks()));
        if (proxies) {
            out.println("the proxy's threads alone (Jetty pool tap-proxy-*, spool, publisher, Kafka watch, its producer)");
            out.printf("%-16s %11s %12s%n", "target", "cpu ms/req", "cpu s/1k chk");
            result.rows().forEach((name, r) -> {
                if (!Double.isNaN(r.proxyThreadsCpuMillisPerRequest())
                        || !Double.isNaN(r.proxyThreadsCpuSecondsPer1000Chunks())) {
                    out.printf("%-16s %11.4f %12.4f%n", name, r.proxyThreadsCpuMillisPerRequest(),
                            r.proxyThreadsCpuSecondsPer1000Chunks());
                }
            });
        }
        result.vsTapProxy().forEach((name, r) -> out.printf("%s as a multiple of tap-proxy's (target <= 1.2): "
                        + "proxy threads cpu/req %.2f, cpu/chunk %.2f; whole process cpu/req %.2f, cpu/chunk %.2f, "
                        + "rss %.2f%n", name, r.proxyThreadsCpuMillisPerRequest(),
                r.proxyThreadsCpuSecondsPer1000Chunks(), r.cpuMillisPerRequest(), r.cpuSecondsPer1000Chunks(),
                r.peakRssMib()));
    }
}
