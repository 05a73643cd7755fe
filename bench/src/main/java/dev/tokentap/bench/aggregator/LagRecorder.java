package dev.tokentap.bench.aggregator;

import dev.tokentap.bench.aggregator.UsageTally.Series;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * Attributes each event of the steady phase to the first scrape of {@code /metrics} that shows it counted, and
 * records the time from its publication to that scrape's answer.
 *
 * <p>The attribution is by sequence within a label set: all events of one label set share a record key, so they
 * sit in one partition and the aggregator counts them in the order they were sent. A label set whose request count
 * has risen by {@code k} since the last scrape has therefore counted exactly its next {@code k} events, and each is
 * recorded with the answer time of this scrape: an upper bound, at most one poll interval plus a scrape late.
 *
 * <p>{@link #published} is called by the sending thread, {@link #observed} by one polling thread.
 */
final class LagRecorder {

    /** The publication times of one label set's events, in sending order, and how many of them were seen. */
    private static final class Log {
        final long baseline;
        long[] publishedNanos = new long[64];
        int size;
        int seen;

        Log(long baseline) {
            this.baseline = baseline;
        }
    }

    private static final long HIGHEST_MICROS = TimeUnit.MINUTES.toMicros(10);

    private final UsageTally before;
    private final Map<Series, Log> logs = new ConcurrentHashMap<>();
    private final Histogram lagMicros = new Histogram(HIGHEST_MICROS, 3);
    private final AtomicLong attributed = new AtomicLong();
    private long overcounted;

    /** @param before what {@code /metrics} showed before the first event of this phase was sent */
    LagRecorder(UsageTally before) {
        this.before = before;
    }

    /** Notes that the next event of {@code series} was handed to the producer at {@code nanos}. */
    void published(Series series, long nanos) {
        Log log = logs.computeIfAbsent(series, s -> new Log(before.requests(s)));
        synchronized (log) {
            if (log.size == log.publishedNanos.length) {
                log.publishedNanos = Arrays.copyOf(log.publishedNanos, log.size * 2);
            }
            log.publishedNanos[log.size++] = nanos;
        }
    }

    /** Attributes what {@code scrape}, answered at {@code answeredNanos}, shows counted beyond the last scrape. */
    void observed(UsageTally scrape, long answeredNanos) {
        for (Series series : scrape.series()) {
            Log log = logs.get(series);
            if (log == null) {
                continue; // a label set only the pre-fill used; the final exact check covers it
            }
            synchronized (log) {
                long counted = scrape.requests(series) - log.baseline;
                if (counted > log.size) {
                    // more counted than sent: an event counted twice; the final exact check reports it too
                    overcounted += counted - log.size;
                    counted = log.size;
                }
                while (log.seen < counted) {
                    long micros = (answeredNanos - log.publishedNanos[log.seen]) / 1_000;
                    lagMicros.recordValue(Math.max(0, Math.min(micros, HIGHEST_MICROS)));
                    log.seen++;
                    attributed.incrementAndGet();
                }
            }
        }
    }

    /** Events seen counted so far. */
    long attributed() {
        return attributed.get();
    }

    /** Events counted beyond those sent; 0 unless something was counted twice. */
    long overcounted() {
        return overcounted;
    }

    /** The lag distribution; read it once the polling thread has stopped. */
    Histogram histogram() {
        return lagMicros;
    }
}
