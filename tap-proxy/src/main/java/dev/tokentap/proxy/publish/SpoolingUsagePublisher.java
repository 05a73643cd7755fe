package dev.tokentap.proxy.publish;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.proxy.ProxyMetrics;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import org.apache.kafka.clients.producer.Producer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes usage events through a {@link DiskSpool}: every event is written to local disk first, then sent to
 * Kafka from there, oldest first, and a segment file is deleted only once Kafka has acknowledged every event in
 * it. So events survive Kafka being away for as long as the spool's cap allows, and the proxy being killed: the
 * next proxy on the same directory sends what is left.
 *
 * <p>Two parts, each with its own threads and state: the {@link SpoolWriter} (hand-off to disk, with back-off),
 * whose stage for each event completes once the event is in the spool's file; and the {@link SpoolSender} (disk to
 * the producer, acknowledgements, retries). This class only wires them and reports their health.
 */
public final class SpoolingUsagePublisher implements UsagePublisher {

    private static final Logger LOG = LoggerFactory.getLogger(SpoolingUsagePublisher.class);
    static final PublisherHealth WRITE_FAILING =
            PublisherHealth.degraded("usage spool cannot be written, events held in memory");
    static final PublisherHealth SYNC_FAILING =
            PublisherHealth.degraded("usage spool cannot be synced to disk");
    static final PublisherHealth SEND_FAILING =
            PublisherHealth.degraded("usage spool cannot be read or cleaned up, events wait on disk");

    private final String topic;
    private final DiskSpool spool;
    private final SpoolSender sender;
    private final SpoolWriter writer;
    private volatile boolean closed;

    /**
     * A publisher with its own {@link org.apache.kafka.clients.producer.KafkaProducer}, spooling to the spool
     * {@code publishing} has, whose responses wait for their event's write at most its {@code writeTimeout}.
     */
    public static SpoolingUsagePublisher create(Publishing publishing, String clientId, ProxyMetrics metrics) {
        Publishing.Spool settings = publishing.spool();
        DiskSpool spool = new DiskSpool(settings.dir(), settings.maxBytes());
        Producer<byte[], byte[]> producer = KafkaUsagePublisher.newProducer(publishing.kafka().bootstrap(),
                clientId, publishing.kafka().properties());
        return new SpoolingUsagePublisher(producer, publishing.topic(), publishing.queue(), spool,
                settings.writeTimeout(), metrics);
    }

    SpoolingUsagePublisher(Producer<byte[], byte[]> producer, String topic, int queueCapacity, DiskSpool spool,
                           ProxyMetrics metrics) {
        this(producer, topic, queueCapacity, spool, Publishing.Spool.DEFAULT_WRITE_TIMEOUT, metrics);
    }

    SpoolingUsagePublisher(Producer<byte[], byte[]> producer, String topic, int queueCapacity, DiskSpool spool,
                           Duration writeTimeout, ProxyMetrics metrics) {
        this.topic = topic;
        this.spool = spool;
        metrics.spoolBytes(spool::bytes);
        long inherited = spool.inheritedBytes();
        if (inherited > 0) {
            LOG.info("spool holds events from an earlier run, replaying them oldest first bytes={}", inherited);
        }
        this.sender = new SpoolSender(producer, topic, spool, metrics);
        this.writer = new SpoolWriter(spool, queueCapacity, writeTimeout, metrics, sender::wake);
    }

    /** The stage completes once the event is in the spool's file (see {@link UsagePublisher#publish}). */
    @Override
    public CompletionStage<Void> publish(UsageEvent event) {
        return writer.write(event);
    }

    @Override
    public PublisherHealth health() {
        if (writer.writeFailing()) {
            return WRITE_FAILING;
        }
        if (writer.syncFailing()) {
            return SYNC_FAILING;
        }
        return sender.failing() ? SEND_FAILING : PublisherHealth.HEALTHY;
    }

    /**
     * Stops taking events, writes those held to the spool, and gives the sender until {@code timeout} to deliver
     * what the spool holds; whatever is left stays on disk for the next process on the same directory.
     */
    @Override
    public void close(Duration timeout) {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            writer.close(deadline);
            sender.close(deadline);
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
     * Stops at once as a killed process would: nothing more is written, sent or synced, held events are lost, the
     * spool's files stay as they are (tests of recovery).
     */
    public void halt() {
        closed = true;
        try {
            writer.halt();
            sender.halt();
            spool.release();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            LOG.warn("releasing the spool failed message=\"{}\"", e.getMessage());
        }
    }
}
