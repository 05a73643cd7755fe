package dev.tokentap.proxy.publish;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.proxy.ProxyMetrics;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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

    private final Producer<String, UsageEvent> producer;
    private final String topic;
    private final DiskSpool spool;
    private final UsageHandOff queue;
    private final ProxyMetrics metrics;
    private final UsageEventCodec codec = new UsageEventCodec();
    private final WarnLimiter droppedWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final WarnLimiter sendWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final Thread writer;
    private final Thread sender;
    private final Object progress = new Object();
    private volatile boolean writerDone;
    private volatile boolean halted;

    /** A publisher with its own {@link KafkaProducer}, spooling to {@code dir}. */
    public static SpoolingUsagePublisher create(String bootstrapServers, String topic, String clientId,
                                                Map<String, String> extraProperties, int queueCapacity,
                                                Path dir, long maxBytes, ProxyMetrics metrics) {
        DiskSpool spool = new DiskSpool(dir, maxBytes);
        Producer<String, UsageEvent> producer = KafkaUsagePublisher.newProducer(bootstrapServers, clientId,
                extraProperties);
        return new SpoolingUsagePublisher(producer, topic, queueCapacity, spool, metrics);
    }

    SpoolingUsagePublisher(Producer<String, UsageEvent> producer, String topic, int queueCapacity, DiskSpool spool,
                           ProxyMetrics metrics) {
        this.producer = producer;
        this.topic = topic;
        this.spool = spool;
        this.queue = new UsageHandOff(queueCapacity, metrics, LOG,
                "usage event dropped: spool writer behind, queue full capacity={}");
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

    private void write() {
        List<UsageEvent> batch = new ArrayList<>(BATCH);
        long openedAt = System.nanoTime();
        try {
            while (!halted) {
                UsageEvent first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first != null) {
                    if (!spool.activeHasRecords()) {
                        openedAt = System.nanoTime();
                    }
                    batch.add(first);
                    queue.drainTo(batch, BATCH - 1);
                    for (UsageEvent event : batch) {
                        if (spool.append(codec.encode(event))) {
                            metrics.eventSpooled();
                        } else {
                            metrics.eventDropped();
                            droppedWarning.warn("USAGE EVENT LOST: spool full, event dropped bytes={} — Kafka has "
                                    + "been away too long for --spool-max-bytes", spool.bytes());
                        }
                    }
                    batch.clear();
                    spool.sync();
                    signal();
                } else if (queue.closed()) {
                    break;
                }
                if (spool.activeHasRecords() && System.nanoTime() - openedAt > ROLL_NANOS) {
                    spool.roll();
                    signal();
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
            writerDone = true;
            signal();
        }
    }

    private void signal() {
        synchronized (progress) {
            progress.notifyAll();
        }
    }

    private void await(long millis) throws InterruptedException {
        synchronized (progress) {
            progress.wait(millis);
        }
    }

    /** Sends every segment, oldest first; deletes a sealed one once all its records are acknowledged. */
    private void sendLoop() {
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
                if (!deliver(segment)) {
                    await(RETRY_MILLIS);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException | RuntimeException e) {
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
        signal();
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
        queue.close();
        halted = true;
        signal();
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
