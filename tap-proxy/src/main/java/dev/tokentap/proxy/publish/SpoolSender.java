package dev.tokentap.proxy.publish;

import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.proxy.ProxyMetrics;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The spool's sending side: one thread reads the {@link DiskSpool}'s segments, oldest first, hands their records to
 * an idempotent producer as the writer encoded them (key, headers and value: {@link SpoolRecordFormat}; nothing is
 * decoded or encoded again here), and deletes a sealed segment once Kafka has acknowledged every record in it. A
 * send that fails makes it send the segment again from the start, so an event can reach Kafka twice; the aggregator
 * drops the copy by {@code event_id}. A segment that cannot be read or deleted (the disk failing) is tried again
 * with a growing pause, never given up.
 *
 * <p>What it knows of the segment in hand (whether it was sent before, whether only its deletion is left) is its
 * own; the spool keeps only what the writer wrote.
 */
final class SpoolSender {

    private static final Logger LOG = LoggerFactory.getLogger(SpoolSender.class);
    private static final long RETRY_MILLIS = 1000;
    private static final long POLL_MILLIS = 50;

    private final Producer<byte[], byte[]> producer;
    private final String topic;
    private final DiskSpool spool;
    private final ProxyMetrics metrics;
    private final SpoolRecordFormat format = new SpoolRecordFormat(new UsageEventCodec());
    private final WarnLimiter sendWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final WarnLimiter spoolWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final Thread thread;
    /** Nothing more will be written: stop once the spool is empty. */
    private volatile boolean draining;
    private volatile boolean halted;
    /** The last read or delete failed; the next one has not succeeded yet. */
    private volatile boolean failing;
    // the sending thread's own: the segment in hand
    private DiskSpool.Segment current;
    private boolean currentSentBefore;
    private boolean currentDelivered;

    SpoolSender(Producer<byte[], byte[]> producer, String topic, DiskSpool spool, ProxyMetrics metrics) {
        this.producer = producer;
        this.topic = topic;
        this.spool = spool;
        this.metrics = metrics;
        thread = new Thread(this::sendLoop, "tokentap-spool-sender");
        thread.setDaemon(true);
        thread.start();
    }

    /** Something was written, sealed or acknowledged: look again now rather than at the next poll. */
    void wake() {
        LockSupport.unpark(thread);
    }

    /** Whether reading or deleting segments fails. */
    boolean failing() {
        return failing;
    }

    private void sendLoop() {
        long backoff = 0;
        try {
            while (!halted) {
                DiskSpool.Segment segment = spool.oldest();
                if (segment == null) {
                    if (draining) {
                        return;
                    }
                    park(100);
                    continue;
                }
                if (segment != current) {
                    current = segment;
                    currentSentBefore = segment.inherited;
                    currentDelivered = false;
                }
                try {
                    if (currentDelivered) {
                        spool.delete(segment);
                    } else if (!deliver(segment)) {
                        park(RETRY_MILLIS);
                        continue;
                    }
                } catch (IOException e) {
                    backoff = backoff == 0 ? SpoolWriter.FIRST_BACKOFF_MILLIS
                            : Math.min(SpoolWriter.MAX_BACKOFF_MILLIS, backoff * 2);
                    failed(currentDelivered ? ProxyMetrics.OPERATION_DELETE : ProxyMetrics.OPERATION_READ, e,
                            backoff);
                    park(backoff);
                    continue;
                }
                if (backoff > 0) {
                    backoff = 0;
                    failing = false;
                    LOG.info("spool read and cleaned up again bytes={}", spool.bytes());
                }
            }
        } catch (RuntimeException e) {
            LOG.error("spool sender failed error={} message=\"{}\"", e.getClass().getSimpleName(), e.getMessage());
        }
    }

    /**
     * Sends one segment from its start until it is sealed and fully read, then waits for its acknowledgements.
     * Returns true when the segment was delivered and deleted, false when a send failed (it is sent again).
     */
    private boolean deliver(DiskSpool.Segment segment) throws IOException {
        boolean again = currentSentBefore;
        AtomicInteger sent = new AtomicInteger();
        AtomicInteger acked = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        // one callback for every record of the segment
        Callback delivered = (metadata, failure) -> {
            if (failure == null) {
                metrics.eventPublished();
                acked.incrementAndGet();
            } else {
                sendFailed(failure);
                failed.incrementAndGet();
            }
            wake();
        };
        long position = 0;
        boolean damaged = false;
        while (!halted) {
            boolean sealed = segment.sealed();
            if (!damaged) {
                DiskSpool.Read read;
                try {
                    read = spool.read(segment, position, (buffer, offset, length) -> {
                        UsageRecord record;
                        try {
                            record = format.decode(buffer, offset, length);
                        } catch (RuntimeException e) {
                            // intact on disk (the checksum matched) yet not a usage record: nothing to deliver
                            LOG.warn("spool record not a usage event, skipped file={} message=\"{}\"",
                                    segment.path.getFileName(), e.getMessage());
                            return;
                        }
                        sent.incrementAndGet();
                        if (again) {
                            metrics.eventReplayed();
                        }
                        send(record, delivered, failed);
                    });
                } catch (IOException e) {
                    // the segment is read from its start again once the disk works: what went out goes out again
                    if (sent.get() > 0) {
                        currentSentBefore = true;
                    }
                    throw e;
                }
                position = read.position();
                // nothing after a damaged record can be trusted: the segment ends there
                damaged = read.damaged();
            }
            if (failed.get() > 0) {
                break;
            }
            if (sealed && (damaged || position >= segment.written())) {
                break;
            }
            park(POLL_MILLIS);
        }
        while (!halted && acked.get() + failed.get() < sent.get()) {
            park(POLL_MILLIS);
        }
        if (halted) {
            return false;
        }
        if (failed.get() > 0) {
            currentSentBefore = true;
            return false;
        }
        // from here on only the deletion is left, if it fails: the segment is not sent again for it
        currentDelivered = true;
        spool.delete(segment);
        return true;
    }

    private void send(UsageRecord record, Callback delivered, AtomicInteger failed) {
        try {
            producer.send(record.toProducerRecord(topic), delivered);
        } catch (RuntimeException e) {
            // send() throws rather than calls back for some failures (metadata timeout, closed producer)
            sendFailed(e);
            failed.incrementAndGet();
        }
    }

    private void sendFailed(Exception failure) {
        sendWarning.warn("usage event not yet delivered, kept in the spool error={} message=\"{}\"",
                failure.getClass().getSimpleName(), failure.getMessage());
    }

    private void failed(String operation, IOException e, long retryMillis) {
        metrics.spoolError(operation);
        if (!failing) {
            failing = true;
            LOG.error("spool {} failing, usage events wait on disk until it works again error={} message=\"{}\" "
                    + "bytes={}", operation, e.getClass().getSimpleName(), e.getMessage(), spool.bytes());
        } else {
            spoolWarning.warn("spool {} still failing error={} message=\"{}\" retry_ms={}", operation,
                    e.getClass().getSimpleName(), e.getMessage(), retryMillis);
        }
    }

    /** Waits up to {@code millis}; {@link #wake} and a halt end the wait early. */
    private void park(long millis) {
        if (!halted) {
            LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(millis));
        }
    }

    /**
     * Delivers what the spool holds until it is empty or {@code deadline} passes (nothing more will be written),
     * then stops, and closes the producer with what time is left; what was not delivered stays on disk.
     */
    void close(long deadline) throws InterruptedException {
        draining = true;
        wake();
        thread.join(Math.max(1, remainingMillis(deadline)));
        halted = true;
        wake();
        producer.close(Duration.ofMillis(remainingMillis(deadline)));
        thread.join(1000);
    }

    /** Stops at once as a killed process would: nothing more is sent. */
    void halt() throws InterruptedException {
        halted = true;
        wake();
        thread.join(5000);
        producer.close(Duration.ZERO);
    }

    private static long remainingMillis(long deadline) {
        return Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
    }
}
