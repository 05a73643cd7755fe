package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Exact bucket counts of one latency, kept in the totals store so that the histograms survive restarts like the
 * counters do. Buckets are fixed (bounded series); counts are per bucket, not cumulative, the last one above the
 * highest bound. Immutable.
 *
 * @param counts    observations per bucket, {@link #bucketCount} of them (fewer when read from an older store:
 *                  missing buckets are 0)
 * @param sumMillis sum of all observations, in milliseconds (exact)
 */
@JsonPropertyOrder({"counts", "sum_ms"})
public record LatencyHistogram(
        @JsonProperty("counts") List<Long> counts,
        @JsonProperty("sum_ms") long sumMillis) {

    /** Upper bounds in seconds of the request duration buckets. */
    public static final double[] DURATION_BOUNDS = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
    /** Upper bounds in seconds of the time-to-first-token buckets. */
    public static final double[] TTFT_BOUNDS = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

    public static final LatencyHistogram EMPTY = new LatencyHistogram(List.of(), 0);

    public LatencyHistogram {
        // never negative, as the totals (UsageTotals): an older version's saved histogram is read healed
        List<Long> kept = new ArrayList<>(counts == null ? 0 : counts.size());
        if (counts != null) {
            counts.forEach(count -> kept.add(count == null ? 0 : Math.max(0, count)));
        }
        counts = Collections.unmodifiableList(kept);
        sumMillis = Math.max(0, sumMillis);
    }

    /** This histogram plus one observation of {@code millis} against {@code bounds}. */
    public LatencyHistogram observe(double[] bounds, long millis) {
        long value = Math.max(0, millis);
        int bucket = bounds.length;
        for (int i = 0; i < bounds.length; i++) {
            if (value <= Math.round(bounds[i] * 1000)) {
                bucket = i;
                break;
            }
        }
        List<Long> next = new ArrayList<>(bounds.length + 1);
        for (int i = 0; i <= bounds.length; i++) {
            next.add(i == bucket ? UsageTotals.plus(count(i), 1) : count(i));
        }
        return new LatencyHistogram(next, UsageTotals.plus(sumMillis, value));
    }

    /** The count of bucket {@code i}, 0 if not kept. */
    public long count(int i) {
        return i < counts.size() ? counts.get(i) : 0;
    }

    /** All observations. */
    public long total() {
        return counts.stream().mapToLong(Long::longValue).reduce(0, UsageTotals::plus);
    }

    /** This histogram and {@code other} added bucket by bucket. */
    public LatencyHistogram plus(LatencyHistogram other) {
        int size = Math.max(counts.size(), other.counts.size());
        List<Long> sum = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            sum.add(UsageTotals.plus(count(i), other.count(i)));
        }
        return new LatencyHistogram(sum, UsageTotals.plus(sumMillis, other.sumMillis));
    }
}
