package dev.tokentap.proxy;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Says in the log when Kafka has acknowledged no usage event for a while although events wait for it (WARN, once)
 * and when it acknowledges again (INFO). It reads the proxy's meters alone, the events acknowledged and those waiting
 * in the publish queue and the spool, so it holds whatever shape the publisher takes; the publisher logs each failed
 * send itself, at a limited rate, and only once the producer gives up on it (a minute by default).
 */
final class KafkaDeliveryWatch implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaDeliveryWatch.class);
    /** Far longer than an acknowledgement takes (a linger and a round trip), far shorter than the producer's timeouts. */
    static final Duration WARN_AFTER = Duration.ofSeconds(15);
    private static final long CHECK_MILLIS = 1000;

    private final MeterRegistry registry;
    private final String kafka;
    private final Stall stall;
    private final ScheduledExecutorService timer;

    private KafkaDeliveryWatch(MeterRegistry registry, String kafka, Duration warnAfter) {
        this.registry = registry;
        this.kafka = kafka;
        this.stall = new Stall(warnAfter.toNanos());
        this.timer = Executors.newSingleThreadScheduledExecutor(task -> {
            Thread thread = new Thread(task, "tokentap-kafka-watch");
            thread.setDaemon(true);
            return thread;
        });
        timer.scheduleWithFixedDelay(this::check, 0, CHECK_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** Watches the meters of {@code registry} (a proxy's) for the Kafka at {@code kafka}. */
    static KafkaDeliveryWatch start(MeterRegistry registry, String kafka, Duration warnAfter) {
        return new KafkaDeliveryWatch(registry, kafka, warnAfter);
    }

    private void check() {
        Counter published = registry.find(ProxyMetrics.EVENTS_PUBLISHED).counter();
        double queued = gauge(ProxyMetrics.PUBLISH_QUEUE_SIZE);
        double spooled = gauge(ProxyMetrics.SPOOL_BYTES);
        Stall.Change change = stall.observe(System.nanoTime(), published == null ? 0 : published.count(),
                queued + spooled);
        if (change == Stall.Change.STALLED) {
            LOG.warn("kafka unreachable: no usage event acknowledged while events wait, they are kept and sent once "
                    + "it is back waited_s={} kafka={} queued={} spool_bytes={}", stall.stalledFor().toSeconds(),
                    kafka, (long) queued, (long) spooled);
        } else if (change == Stall.Change.RESUMED) {
            LOG.info("kafka reachable again: usage events acknowledged waited_s={} kafka={}",
                    stall.stalledFor().toSeconds(), kafka);
        }
    }

    private double gauge(String name) {
        Gauge gauge = registry.find(name).gauge();
        return gauge == null ? 0 : gauge.value();
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }

    /** When deliveries stall and resume, from successive readings of what is acknowledged and what waits. */
    static final class Stall {
        enum Change { STALLED, RESUMED }

        private final long warnAfterNanos;
        private boolean started;
        private double acknowledged;
        private long progressAt;
        private boolean stalled;
        private long stalledFor;

        Stall(long warnAfterNanos) {
            this.warnAfterNanos = warnAfterNanos;
        }

        /**
         * One reading. Time counts while events wait and none is acknowledged; it starts again at each
         * acknowledgement and whenever nothing waits.
         *
         * @return the change this reading makes, or null
         */
        Change observe(long nowNanos, double acknowledgedSoFar, double waiting) {
            if (!started || acknowledgedSoFar > acknowledged) {
                boolean resumed = started && stalled;
                stalledFor = nowNanos - progressAt;
                started = true;
                acknowledged = acknowledgedSoFar;
                progressAt = nowNanos;
                stalled = false;
                return resumed ? Change.RESUMED : null;
            }
            if (waiting <= 0) {
                if (!stalled) {
                    progressAt = nowNanos;
                }
                return null;
            }
            if (!stalled && nowNanos - progressAt >= warnAfterNanos) {
                stalled = true;
                stalledFor = nowNanos - progressAt;
                return Change.STALLED;
            }
            return null;
        }

        /** How long deliveries had stalled at the last change. */
        Duration stalledFor() {
            return Duration.ofNanos(stalledFor);
        }
    }
}
