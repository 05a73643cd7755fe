package dev.tokentap.testkit.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The in-process broker as clients see it: round trips, transactions, restarts, a second instance, reused data dirs. */
@ExtendWith(KafkaExtension.class)
class EmbeddedKafkaIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @Test
    void shouldRoundTripRecordsThroughTheBroker(TestKafka kafka) throws Exception {
        // given
        String topic = topic();
        kafka.createTopic(topic, 2);

        // when
        produce(kafka, topic, "a", "b", "c");

        // then
        assertThat(consumeAll(kafka, topic, 3, false)).containsExactlyInAnyOrder("a", "b", "c");
    }

    @Test
    void shouldAutoCreateTopicsOnFirstUse(TestKafka kafka) throws Exception {
        String topic = topic();

        produce(kafka, topic, "auto");

        assertThat(consumeAll(kafka, topic, 1, false)).containsExactly("auto");
    }

    @Test
    void shouldCommitTransactionsAndHideAbortedOnesFromReadCommitted(TestKafka kafka) throws Exception {
        // given
        String topic = topic();
        kafka.createTopic(topic, 1);
        Map<String, Object> config = producerConfig(kafka);
        config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "tx-" + topic);

        // when
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, "aborted"));
            producer.abortTransaction();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, "committed-1"));
            producer.send(new ProducerRecord<>(topic, "committed-2"));
            producer.commitTransaction();
        }

        // then
        assertThat(consumeAll(kafka, topic, 2, true)).containsExactly("committed-1", "committed-2");
    }

    @Test
    void shouldKeepRecordsAndAddressAcrossRestart(EmbeddedKafka kafka) throws Exception {
        // given
        String topic = topic();
        String bootstrap = kafka.bootstrapServers();
        produce(kafka, topic, "before");

        // when
        kafka.restart();
        produce(kafka, topic, "after");

        // then
        assertThat(kafka.isRunning()).isTrue();
        assertThat(kafka.bootstrapServers()).isEqualTo(bootstrap);
        assertThat(consumeAll(kafka, topic, 2, false)).containsExactly("before", "after");
    }

    @Test
    void shouldRecoverRecordsAfterKill(EmbeddedKafka kafka) throws Exception {
        // given
        String topic = topic();
        produce(kafka, topic, "survivor");

        // when
        kafka.kill();
        assertThat(kafka.isRunning()).isFalse();
        assertThat(kafka.dataDir().resolve(".kafka_cleanshutdown")).doesNotExist();
        kafka.start();

        // then
        assertThat(consumeAll(kafka, topic, 1, false)).containsExactly("survivor");
    }

    @Test
    void shouldRunASecondBrokerBesideTheFirst(TestKafka first) throws Exception {
        String topic = topic();
        try (EmbeddedKafka second = EmbeddedKafka.builder().build().start()) {
            assertThat(second.bootstrapServers()).isNotEqualTo(first.bootstrapServers());

            produce(first, topic, "on-first");
            produce(second, topic, "on-second");

            assertThat(consumeAll(first, topic, 1, false)).containsExactly("on-first");
            assertThat(consumeAll(second, topic, 1, false)).containsExactly("on-second");
        }
    }

    @Test
    void shouldStartAgainOnAnAlreadyFormattedDirectoryAndKeepIt(@TempDir Path dir) throws Exception {
        // given a broker that wrote to a directory and is gone
        String topic = topic();
        int port;
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(dir).build().start()) {
            port = kafka.port();
            produce(kafka, topic, "persisted");
        }
        assertThat(dir.resolve("meta.properties")).exists();

        // when a new one starts there on the same fixed port, as tokentap run does after a restart
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(dir).port(port).build().start()) {
            // then
            assertThat(kafka.bootstrapServers()).isEqualTo("127.0.0.1:" + port);
            assertThat(consumeAll(kafka, topic, 1, false)).containsExactly("persisted");
        }
        assertThat(Files.list(dir)).isNotEmpty();
    }

    @Test
    void shouldDeleteOnlyTheTempDirItCreated() {
        EmbeddedKafka kafka = EmbeddedKafka.builder().build();
        Path dir = kafka.dataDir();
        assertThat(dir).isDirectory();

        kafka.close();

        assertThat(dir).doesNotExist();
    }

    @Test
    void shouldFailToStartWhenItsPortIsTaken() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
                EmbeddedKafka kafka = EmbeddedKafka.builder().port(taken.getLocalPort()).build()) {
            assertThatThrownBy(kafka::start)
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("127.0.0.1:" + taken.getLocalPort());
            assertThat(kafka.isRunning()).isFalse();
        }
    }

    @Test
    void shouldRejectPortsOutOfRange() {
        assertThatThrownBy(() -> EmbeddedKafka.builder().port(70000)).isInstanceOf(IllegalArgumentException.class);
    }

    private static String topic() {
        return "t-" + UUID.randomUUID();
    }

    private static Map<String, Object> producerConfig(TestKafka kafka) {
        Map<String, Object> config = new HashMap<>(kafka.clientProperties());
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        return config;
    }

    private static void produce(TestKafka kafka, String topic, String... values) throws Exception {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerConfig(kafka))) {
            for (String value : values) {
                producer.send(new ProducerRecord<>(topic, value)).get();
            }
        }
    }

    /** Reads from the beginning until {@code expected} records arrived or the wait runs out, then returns what came. */
    private static List<String> consumeAll(TestKafka kafka, String topic, int expected, boolean readCommitted) {
        Map<String, Object> config = new HashMap<>(kafka.clientProperties());
        config.put(ConsumerConfig.GROUP_ID_CONFIG, "g-" + UUID.randomUUID());
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, readCommitted ? "read_committed" : "read_uncommitted");
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (values.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
                    values.add(record.value());
                }
            }
            // one more short poll: a test expecting N must also see that nothing beyond N arrived
            consumer.poll(Duration.ofMillis(200)).forEach(record -> values.add(record.value()));
        }
        return values;
    }
}
