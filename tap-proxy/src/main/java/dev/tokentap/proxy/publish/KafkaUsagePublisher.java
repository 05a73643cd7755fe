package dev.tokentap.proxy.publish;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.proxy.ProxyMetrics;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes usage events to Kafka with an idempotent producer, keyed by client address, with CloudEvents headers.
 * {@link #publish} only offers the event to a bounded queue; one dedicated thread drains it into
 * {@code KafkaProducer.send}, which may block for up to {@code max.block.ms} while Kafka is away or its buffer is
 * full. So no request thread ever waits on Kafka: a full queue or a failed send is counted and logged at a limited
 * rate, and the traffic goes on.
 */
public final class KafkaUsagePublisher implements UsagePublisher {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaUsagePublisher.class);

    private final Producer<byte[], byte[]> producer;
    private final String topic;
    private final UsageHandOff<UsageEvent> queue;
    private final ProxyMetrics metrics;
    private final Thread sender;
    private final WarnLimiter sendWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final UsageEventCodec codec = new UsageEventCodec();
    /** One callback for every send. */
    private final Callback delivered = this::delivered;

    /** A publisher with its own {@link KafkaProducer}, publishing from memory only. */
    public static KafkaUsagePublisher create(Publishing publishing, String clientId, ProxyMetrics metrics) {
        return new KafkaUsagePublisher(newProducer(publishing.kafka().bootstrap(), clientId,
                publishing.kafka().properties()), publishing.topic(), publishing.queue(), metrics);
    }

    /**
     * An idempotent producer of usage records with {@link #producerProperties}: each is encoded once, as a
     * {@link UsageRecord}, before it reaches the producer, whose serializers pass the bytes on as they are.
     */
    static Producer<byte[], byte[]> newProducer(String bootstrapServers, String clientId,
                                                Map<String, String> extraProperties) {
        return new KafkaProducer<>(producerProperties(bootstrapServers, clientId, extraProperties),
                new ByteArraySerializer(), new ByteArraySerializer());
    }

    /**
     * The producer settings: tuned defaults, then the operator's extra properties, then what the usage log
     * depends on (idempotence and {@code acks=all}), which cannot be overridden.
     */
    static Map<String, Object> producerProperties(String bootstrapServers, String clientId,
                                                  Map<String, String> extraProperties) {
        Map<String, Object> properties = new HashMap<>();
        // events go to Kafka from a thread of their own, never on a request's path: waiting 50 ms lets a busy
        // proxy send one batch where it sent one record per request, at a fraction of the producer's CPU
        properties.put(ProducerConfig.LINGER_MS_CONFIG, 50);
        properties.put(ProducerConfig.BATCH_SIZE_CONFIG, 64 * 1024);
        properties.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        properties.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        properties.putAll(extraProperties);
        properties.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        properties.put(ProducerConfig.ACKS_CONFIG, "all");
        properties.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        properties.remove(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG);
        properties.remove(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG);
        return properties;
    }

    /** A publisher over a given producer (tests pass a {@code MockProducer}). */
    public KafkaUsagePublisher(Producer<byte[], byte[]> producer, String topic, int queueCapacity,
                               ProxyMetrics metrics) {
        this.producer = producer;
        this.topic = topic;
        this.queue = new UsageHandOff<>(queueCapacity, metrics, LOG,
                "usage event dropped: publish queue full capacity={}");
        this.metrics = metrics;
        this.sender = new Thread(this::drain, "tokentap-publisher");
        this.sender.setDaemon(true);
        this.sender.start();
    }

    /** Nothing is kept on disk, so the stage is complete at once: the event is in memory, or lost and counted. */
    @Override
    public CompletionStage<Void> publish(UsageEvent event) {
        queue.offer(event);
        return TAKEN;
    }

    /** Events held in memory: waiting to be sent, or being handed to the producer. */
    public int queued() {
        return queue.held();
    }

    private void drain() {
        while (true) {
            UsageEvent event;
            try {
                event = queue.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                break;
            }
            if (event == null) {
                if (queue.closed()) {
                    break;
                }
                continue;
            }
            send(event);
            queue.done(1);
            if (Thread.currentThread().isInterrupted()) {
                break;
            }
        }
    }

    private void send(UsageEvent event) {
        try {
            producer.send(UsageRecord.of(event, codec).toProducerRecord(topic), delivered);
        } catch (RuntimeException e) {
            // send() throws rather than calls back for some failures (closed producer, metadata timeout)
            sendFailed(e);
        }
    }

    private void delivered(RecordMetadata metadata, Exception failure) {
        if (failure == null) {
            metrics.eventPublished();
        } else {
            sendFailed(failure);
        }
    }

    private void sendFailed(Exception failure) {
        metrics.publishFailure(queue.closed() ? ProxyMetrics.REASON_SHUTDOWN : ProxyMetrics.REASON_KAFKA_ERROR);
        sendWarning.warn("usage event not published error={} message=\"{}\"", failure.getClass().getSimpleName(),
                failure.getMessage());
    }

    @Override
    public void close(Duration timeout) {
        if (!queue.close()) {
            return;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            sender.join(Math.max(1, remainingMillis(deadline)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (sender.isAlive()) {
            // still blocked in send(): Kafka is away; stop waiting for it
            sender.interrupt();
        }
        producer.close(Duration.ofMillis(remainingMillis(deadline)));
        int left = 0;
        while (queue.poll() != null) {
            queue.done(1);
            metrics.publishFailure(ProxyMetrics.REASON_SHUTDOWN);
            left++;
        }
        if (left > 0) {
            LOG.warn("usage events not published at shutdown count={}", left);
        }
        LOG.info("publisher closed topic={}", topic);
    }

    private static long remainingMillis(long deadline) {
        return Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
    }
}
