package dev.tokentap.bench;

import org.HdrHistogram.Histogram;

/**
 * A latency distribution in microseconds, as written to the JSON and the tables.
 *
 * @param count samples
 * @param p50   median
 * @param p90   90th percentile
 * @param p99   99th percentile
 * @param p999  99.9th percentile
 * @param max   largest sample
 * @param mean  arithmetic mean
 */
public record Percentiles(long count, double p50, double p90, double p99, double p999, double max, double mean) {

    public static final Percentiles EMPTY = new Percentiles(0, 0, 0, 0, 0, 0, 0);

    /** From a histogram recorded in nanoseconds. */
    public static Percentiles ofNanos(Histogram h) {
        if (h.getTotalCount() == 0) {
            return EMPTY;
        }
        return new Percentiles(h.getTotalCount(), micros(h.getValueAtPercentile(50)),
                micros(h.getValueAtPercentile(90)), micros(h.getValueAtPercentile(99)),
                micros(h.getValueAtPercentile(99.9)), micros(h.getMaxValue()), round(h.getMean() / 1000.0));
    }

    /** A histogram for nanosecond latencies up to an hour, three significant digits. */
    public static Histogram newNanosHistogram() {
        return new Histogram(3_600_000_000_000L, 3);
    }

    private static double micros(long nanos) {
        return round(nanos / 1000.0);
    }

    static double round(double value) {
        return Math.round(value * 10.0) / 10.0;
    }
}
