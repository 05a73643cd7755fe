package dev.tokentap.proxy.publish;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.proxy.ProxyMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class KafkaUsagePublisherTest {

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final ProxyMetrics metrics = new ProxyMetrics(registry);
    private KafkaUsagePublisher publisher;

    @AfterEach
    void close() {
        if (publisher != null) {
            publisher.close(Duration.ofSeconds(1));
        }
    }

    private static UsageEvent event(String id) {
        return UsageEvent.builder().eventId(id).route("/v1/completions").outcome(Outcome.OK)
                .clientAddress("10.1.2.3").proxyHost("proxy-0").endedAt(1_763_800_000_000L).build();
    }

    private static MockProducer<byte[], byte[]> mockProducer(boolean autoComplete) {
        return new MockProducer<>(autoComplete, null, new ByteArraySerializer(),
                new ByteArraySerializer());
    }

    private double failures(String reason) {
        return registry.get(ProxyMetrics.PUBLISH_FAILURES).tag(ProxyMetrics.TAG_REASON, reason).counter().count();
    }

    private double published() {
        return registry.get(ProxyMetrics.EVENTS_PUBLISHED).counter().count();
    }

    @Test
    void shouldSendEachEventKeyedByClientAddress() {
        MockProducer<byte[], byte[]> producer = mockProducer(true);
        publisher = new KafkaUsagePublisher(producer, "usage", 10, metrics);

        publisher.publish(event("e-1"));

        await().atMost(Duration.ofSeconds(5)).until(() -> producer.history().size() == 1);
        ProducerRecord<byte[], byte[]> record = producer.history().get(0);
        assertThat(record.topic()).isEqualTo("usage");
        // the record is encoded before the producer, which sends its bytes as they are: key, CloudEvents headers
        // and JSON, byte for byte what the contract's serde makes of the event
        ContractRecords.assertIsTheContractsRecordOf(record, event("e-1"));
        await().atMost(Duration.ofSeconds(5)).until(() -> published() == 1.0);
    }

    @Test
    void shouldNeverBlockTheCallerAndCountWhatTheFullQueueDrops() throws Exception {
        CountDownLatch kafkaBack = new CountDownLatch(1);
        CountDownLatch sending = new CountDownLatch(1);
        MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null, new ByteArraySerializer(),
                new ByteArraySerializer()) {
            @Override
            public synchronized Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record,
                                                             Callback callback) {
                // as KafkaProducer.send does for max.block.ms while Kafka is away
                sending.countDown();
                try {
                    kafkaBack.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return super.send(record, callback);
            }
        };
        publisher = new KafkaUsagePublisher(producer, "usage", 2, metrics);
        publisher.publish(event("stuck-in-send"));
        sending.await();

        // the stuck send never returns by itself, so a publish that waited for it would never return either: the
        // guard turns that into a failure, and its length says nothing about speed
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            for (int i = 0; i < 5; i++) {
                publisher.publish(event("e-" + i));
            }
        });

        // two wait in the queue and one is stuck in send(): all three are in memory, and counted so
        assertThat(publisher.queued()).isEqualTo(3);
        assertThat(failures(ProxyMetrics.REASON_QUEUE_FULL)).isEqualTo(3.0);
        assertThat(registry.get(ProxyMetrics.PUBLISH_QUEUE_SIZE).gauge().value()).isEqualTo(3.0);

        kafkaBack.countDown();
        await().atMost(Duration.ofSeconds(5)).until(() -> published() == 3.0);
    }

    @Test
    void shouldCountSendsThatKafkaFails() {
        MockProducer<byte[], byte[]> producer = mockProducer(false);
        publisher = new KafkaUsagePublisher(producer, "usage", 10, metrics);

        publisher.publish(event("e-1"));
        await().atMost(Duration.ofSeconds(5)).until(() -> producer.history().size() == 1);
        producer.errorNext(new KafkaException("broker says no"));

        assertThat(failures(ProxyMetrics.REASON_KAFKA_ERROR)).isEqualTo(1.0);
        assertThat(published()).isZero();
    }

    @Test
    void shouldSendWhatIsQueuedBeforeClosing() {
        MockProducer<byte[], byte[]> producer = mockProducer(true);
        publisher = new KafkaUsagePublisher(producer, "usage", 100, metrics);
        for (int i = 0; i < 20; i++) {
            publisher.publish(event("e-" + i));
        }

        publisher.close(Duration.ofSeconds(5));

        assertThat(producer.history()).hasSize(20);
        assertThat(producer.closed()).isTrue();
        publisher.publish(event("late"));
        assertThat(failures(ProxyMetrics.REASON_SHUTDOWN)).isEqualTo(1.0);
    }

    @Test
    void shouldKeepIdempotenceAndAcksWhateverTheOperatorSets() {
        Map<String, Object> properties = KafkaUsagePublisher.producerProperties("kafka:9092", "client-1", Map.of(
                "acks", "1", "enable.idempotence", "false", "security.protocol", "SSL", "linger.ms", "20",
                "value.serializer", "x.Y"));

        assertThat(properties)
                .containsEntry(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, "kafka:9092")
                .containsEntry(ProducerConfig.ACKS_CONFIG, "all")
                .containsEntry(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true)
                .containsEntry("security.protocol", "SSL")
                .containsEntry(ProducerConfig.LINGER_MS_CONFIG, "20")
                .containsEntry(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4")
                .containsEntry(ProducerConfig.CLIENT_ID_CONFIG, "client-1")
                .doesNotContainKey(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG);
    }

    @Test
    void shouldBatchEventsOffTheRequestPathUnlessTheOperatorSaysOtherwise() {
        Map<String, Object> properties = KafkaUsagePublisher.producerProperties("kafka:9092", "client-1", Map.of());

        assertThat(properties)
                .containsEntry(ProducerConfig.LINGER_MS_CONFIG, 50)
                .containsEntry(ProducerConfig.BATCH_SIZE_CONFIG, 64 * 1024);
    }
}
