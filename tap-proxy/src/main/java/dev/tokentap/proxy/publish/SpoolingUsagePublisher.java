package dev.tokentap.proxy.publish;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.proxy.ProxyMetrics;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes usage events through a {@link DiskSpool}: every event is written to local disk first, then sent to
 * Kafka from there, oldest first, and a segment file is deleted only once Kafka has acknowledged every event in
 * it. So events survive Kafka being away for as long as the spool's cap allows, and the proxy being killed: the
 * next proxy on the same directory sends what is left.
 *
 * <p>Three stages, none of them on a request thread: {@link #publish} offers the event to a bounded memory queue;
 * a writer thread appends queued events to the spool and fsyncs once per batch it drained; a sender thread reads
 * the spool and hands records to an idempotent producer. A send that fails makes the sender send its segment
 * again from the start, so an event can reach Kafka twice; the aggregator drops the copy by {@code event_id}.
 */
public final class SpoolingUsagePublisher implements UsagePublisher {

    private static final Logger LOG = LoggerFactory.getLogger(SpoolingUsagePublisher.class);
    /** An open segment older than this is closed, so that the sender can delete it once delivered. */
    static final long ROLL_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final int BATCH = 1000;
    private static final long RETRY_MILLIS = 1000;
    /** The first pause after a spool I/O error; it doubles with each failure in a row, up to the maximum. */
    static final long FIRST_BACKOFF_MILLIS = 100;
    static final long MAX_BACKOFF_MILLIS = 5_000;

    private final Producer<String, UsageEvent> producer;
    private final String topic;
    private final DiskSpool spool;
    private final UsageHandOff queue;
    private final ProxyMetrics metrics;
    private final UsageEventCodec codec = new UsageEventCodec();
    private final WarnLimiter droppedWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final WarnLimiter sendWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final WarnLimiter spoolWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final Object retryPause = new Object();
    private final int queueCapacity;
    /** Set by {@link #halt}: events lost then are the point of the test that halts, not news. */
    private volatile boolean halting;
    // each side of the spool says whether its last operation failed; the spool is degraded while either did
    private volatile boolean writerFailing;
    private volatile boolean senderFailing;
    private final Thread writer;
    private final Thread sender;
    private final Object progress = new Object();
    private volatile boolean writerDone;
    private volatile boolean halted;

    /** A publisher with its own {@link KafkaProducer}, spooling to the spool {@code publishing} has. */
    public static SpoolingUsagePublisher create(Publishing publishing, String clientId, ProxyMetrics metrics) {
        DiskSpool spool = new DiskSpool(publishing.spool().dir(), publishing.spool().maxBytes());
        Producer<String, UsageEvent> producer = KafkaUsagePublisher.newProducer(publishing.kafka().bootstrap(),
                clientId, publishing.kafka().properties());
        return new SpoolingUsagePublisher(producer, publishing.topic(), publishing.queue(), spool, metrics);
    }

    SpoolingUsagePublisher(Producer<String, UsageEvent> producer, String topic, int queueCapacity, DiskSpool spool,
                           ProxyMetrics metrics) {
        this.producer = producer;
        this.topic = topic;
        this.spool = spool;
        this.queueCapacity = queueCapacity;
        this.queue = new UsageHandOff(queueCapacity, metrics, LOG,
                "USAGE EVENT LOST: spool writer behind or spool failing, queue full capacity={}");
        this.metrics = metrics;
        metrics.spoolBytes(spool::bytes);
        long inherited = spool.inheritedBytes();
        if (inherited > 0) {
            LOG.info("spool holds events from an earlier run, replaying them oldest first bytes={}", inherited);
        }
        writer = new Thread(this::write, "tokentap-spool-writer");
        writer.setDaemon(true);
        sender = new Thread(this::sendLoop, "tokentap-spool-sender");
        sender.setDaemon(true);
        writer.start();
        sender.start();
    }

    @Override
    public void publish(UsageEvent event) {
        queue.offer(event);
    }

    /**
     * Takes events from the hand-off and spools them, a batch at a time. A batch is done once synced; when the disk
     * fails (full, directory gone) the batch is kept and written again with a growing pause, while new events wait
     * in the bounded hand-off, which drops and counts what does not fit. The writer never gives up by itself.
     */
    private void write() {
        List<UsageEvent> pending = new ArrayList<>(BATCH);
        long openedAt = System.nanoTime();
        long backoff = 0;
        try {
            while (!halted) {
                if (pending.isEmpty()) {
                    UsageEvent first = queue.poll(100, TimeUnit.MILLISECONDS);
                    if (first != null) {
                        pending.add(first);
                        queue.drainTo(pending, BATCH - 1);
                    } else if (queue.closed()) {
                        break;
                    }
                }
                boolean wrote = false;
                try {
                    if (!pending.isEmpty()) {
                        if (!spool.activeHasRecords()) {
                            openedAt = System.nanoTime();
                        }
                        spoolBatch(pending);
                        wrote = true;
                        signal();
                    }
                    if (spool.activeHasRecords() && System.nanoTime() - openedAt > ROLL_NANOS) {
                        spool.roll();
                        wrote = true;
                        signal();
                    }
                } catch (IOException e) {
                    backoff = backoff == 0 ? FIRST_BACKOFF_MILLIS : Math.min(MAX_BACKOFF_MILLIS, backoff * 2);
                    spoolFailed(ProxyMetrics.OPERATION_WRITE, e, pending.size(), backoff);
                    spool.abandonActive();
                    pause(backoff);
                    continue;
                }
                if (wrote && backoff > 0) {
                    backoff = 0;
                    spoolRecovered(true);
                }
            }
            if (!halted) {
                spool.roll();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException | RuntimeException e) {
            LOG.error("spool writer failed, usage events are no longer recorded error={} message=\"{}\"",
                    e.getClass().getSimpleName(), e.getMessage());
        } finally {
            if (!halting) {
                // a close while the disk still failed: what it could not write is lost, and counted so
                queue.drainTo(pending, Integer.MAX_VALUE);
            }
            lost(pending);
            writerDone = true;
            signal();
        }
    }

    /** Appends and syncs {@code batch}; counts it spooled and clears it only once it is safely on disk. */
    private void spoolBatch(List<UsageEvent> batch) throws IOException {
        for (Iterator<UsageEvent> events = batch.iterator(); events.hasNext(); ) {
            if (!spool.append(codec.encode(events.next()))) {
                // the cap, not a failure: the event is gone, and must not be counted again on a retry
                events.remove();
                metrics.eventDropped();
                droppedWarning.warn("USAGE EVENT LOST: spool full, event dropped bytes={} — Kafka has "
                        + "been away too long for --spool-max-bytes", spool.bytes());
            }
        }
        spool.sync();
        for (int i = 0; i < batch.size(); i++) {
            metrics.eventSpooled();
        }
        batch.clear();
    }

    /** Events the writer held when it stopped without spooling them (a halt, or a failing disk at close). */
    private void lost(List<UsageEvent> pending) {
        int lost = pending.size();
        for (UsageEvent ignored : pending) {
            metrics.publishFailure(ProxyMetrics.REASON_SHUTDOWN);
        }
        pending.clear();
        if (lost > 0 && !halting) {
            LOG.error("USAGE EVENT LOST: the spool writer stopped holding events it could not write events={}",
                    lost);
        }
    }

    /** Counts a failed spool operation and marks the spool degraded until the failing side succeeds again. */
    private void spoolFailed(String operation, Exception e, int waiting, long retryMillis) {
        metrics.spoolError(operation);
        boolean wasDegraded = writerFailing || senderFailing;
        if (ProxyMetrics.OPERATION_WRITE.equals(operation)) {
            writerFailing = true;
        } else {
            senderFailing = true;
        }
        metrics.spoolDegraded(true);
        if (!wasDegraded) {
            LOG.error("spool failing, usage events wait in memory until it works again operation={} error={} "
                    + "message=\"{}\" waiting={} queue_capacity={}", operation, e.getClass().getSimpleName(),
                    e.getMessage(), waiting, queueCapacity);
        } else {
            spoolWarning.warn("spool still failing operation={} error={} message=\"{}\" waiting={} retry_ms={}",
                    operation, e.getClass().getSimpleName(), e.getMessage(), waiting + queue.size(), retryMillis);
        }
    }

    private void spoolRecovered(boolean writer) {
        if (writer) {
            writerFailing = false;
        } else {
            senderFailing = false;
        }
        if (metrics.spoolDegraded() && !writerFailing && !senderFailing) {
            metrics.spoolDegraded(false);
            LOG.info("spool works again, events waiting in memory are being written queued={}", queue.size());
        }
    }

    /** Waits before retrying a failed spool operation; a close or halt ends the wait early. */
    private void pause(long millis) throws InterruptedException {
        synchronized (retryPause) {
            if (!halted) {
                retryPause.wait(millis);
            }
        }
    }

    private void signal() {
        synchronized (progress) {
            progress.notifyAll();
        }
    }

    /** Ends every wait at once: for close and halt. */
    private void wakeAll() {
        signal();
        synchronized (retryPause) {
            retryPause.notifyAll();
        }
    }

    private void await(long millis) throws InterruptedException {
        synchronized (progress) {
            progress.wait(millis);
        }
    }

    /**
     * Sends every segment, oldest first; deletes a sealed one once all its records are acknowledged. A segment
     * that cannot be read or deleted (the disk failing) is tried again with a growing pause, never given up.
     */
    private void sendLoop() {
        long backoff = 0;
        try {
            while (!halted) {
                DiskSpool.Segment segment = spool.oldest();
                if (segment == null) {
                    if (writerDone) {
                        return;
                    }
                    await(100);
                    continue;
                }
                String operation = ProxyMetrics.OPERATION_READ;
                try {
                    if (segment.delivered) {
                        operation = ProxyMetrics.OPERATION_DELETE;
                        spool.delete(segment);
                    } else if (!deliver(segment)) {
                        await(RETRY_MILLIS);
                        continue;
                    }
                } catch (IOException e) {
                    backoff = backoff == 0 ? FIRST_BACKOFF_MILLIS : Math.min(MAX_BACKOFF_MILLIS, backoff * 2);
                    spoolFailed(operation, e, queue.size(), backoff);
                    pause(backoff);
                    continue;
                }
                if (backoff > 0) {
                    backoff = 0;
                    spoolRecovered(false);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.error("spool sender failed error={} message=\"{}\"", e.getClass().getSimpleName(), e.getMessage());
        }
    }

    /**
     * Sends one segment from its start until it is sealed and fully read, then waits for its acknowledgements.
     * Returns true when the segment was delivered and deleted, false when a send failed (it is sent again).
     */
    private boolean deliver(DiskSpool.Segment segment) throws IOException, InterruptedException {
        boolean again = segment.inherited || segment.retried;
        AtomicInteger sent = new AtomicInteger();
        AtomicInteger acked = new AtomicInteger();
        AtomicLong failed = new AtomicLong();
        long position = 0;
        while (!halted) {
            boolean sealed = segment.sealed;
            try {
                position = spool.read(segment, position, bytes -> {
                    UsageEvent event;
                    try {
                        event = codec.decode(bytes);
                    } catch (RuntimeException e) {
                        // intact on disk (the checksum matched) yet not an event: nothing to deliver
                        LOG.warn("spool record not a usage event, skipped file={} message=\"{}\"",
                                segment.path.getFileName(), e.getMessage());
                        return;
                    }
                    sent.incrementAndGet();
                    if (again) {
                        metrics.eventReplayed();
                    }
                    send(event, acked, failed);
                });
            } catch (IOException e) {
                // the segment is read from its start again once the disk works: what went out goes out again
                if (sent.get() > 0) {
                    segment.retried = true;
                }
                throw e;
            }
            if (failed.get() > 0) {
                break;
            }
            if (sealed && position >= segment.synced) {
                break;
            }
            await(50);
        }
        while (!halted && acked.get() + failed.get() < sent.get()) {
            await(50);
        }
        if (halted) {
            return false;
        }
        if (failed.get() > 0) {
            segment.retried = true;
            return false;
        }
        // from here on only the deletion is left, if it fails: the segment is not sent again for it
        segment.delivered = true;
        spool.delete(segment);
        return true;
    }

    private void send(UsageEvent event, AtomicInteger acked, AtomicLong failed) {
        try {
            producer.send(new ProducerRecord<>(topic, event.clientAddress(), event), (metadata, failure) -> {
                if (failure == null) {
                    metrics.eventPublished();
                    acked.incrementAndGet();
                } else {
                    sendFailed(failure);
                    failed.incrementAndGet();
                }
                if (acked.get() + failed.get() > 0) {
                    signal();
                }
            });
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

    /**
     * Stops taking events, writes those queued to the spool, and gives the sender until {@code timeout} to deliver
     * what the spool holds; whatever is left stays on disk for the next process on the same directory.
     */
    @Override
    public void close(Duration timeout) {
        if (!queue.close()) {
            return;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            writer.join(Math.max(1, remainingMillis(deadline)));
            sender.join(Math.max(1, remainingMillis(deadline)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        halted = true;
        wakeAll();
        producer.close(Duration.ofMillis(remainingMillis(deadline)));
        try {
            writer.join(1000);
            sender.join(1000);
            spool.close();
        } catch (IOException e) {
            LOG.warn("closing the spool failed message=\"{}\"", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (spool.bytes() > 0) {
            LOG.warn("usage events left in the spool for the next start bytes={}", spool.bytes());
        }
        LOG.info("publisher closed topic={}", topic);
    }

    /**
     * Stops at once as a killed process would: nothing more is written, sent or synced, queued events are lost,
     * the spool's files stay as they are (tests of recovery).
     */
    public void halt() {
        halting = true;
        queue.close();
        halted = true;
        wakeAll();
        try {
            writer.join(5000);
            sender.join(5000);
            spool.release();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            LOG.warn("releasing the spool failed message=\"{}\"", e.getMessage());
        }
        producer.close(Duration.ZERO);
    }

    private static long remainingMillis(long deadline) {
        return Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
    }
}
