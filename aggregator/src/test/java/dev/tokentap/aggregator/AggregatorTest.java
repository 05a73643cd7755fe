package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.config.KafkaClients;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

class AggregatorTest {

    private final Streams config = AggregatorConfig.fromArgs(new String[] {"--kafka", "k1:9092,k2:9092",
            "--application-id", "agg-test", "--state-dir", "/tmp/agg-state", "--stream-threads", "2",
            "--commit-interval", "250ms"}, Map.of(
            "TOKENTAP_KAFKA_PROCESSING_GUARANTEE", "at_least_once",
            "TOKENTAP_KAFKA_APPLICATION_ID", "overridden?",
            "TOKENTAP_KAFKA_SECURITY_PROTOCOL", "SSL",
            "TOKENTAP_KAFKA_CONSUMER_SESSION_TIMEOUT_MS", "10000",
            "TOKENTAP_KAFKA_ADMIN_REQUEST_TIMEOUT_MS", "5000")).streams();

    private static Streams withKafkaProperties(Map<String, String> properties) {
        Streams defaults = AggregatorConfig.fromArgs().streams();
        return defaults.withKafka(new KafkaClients(defaults.kafka().bootstrap(), properties));
    }

    @Test
    void shouldRunExactlyOnceWithTheConfiguredSettingsOverPassedThroughOnes() {
        Properties props = Aggregator.streamsProperties(config);

        assertThat(props)
                .containsEntry(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2)
                .containsEntry(StreamsConfig.APPLICATION_ID_CONFIG, "agg-test")
                .containsEntry(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "k1:9092,k2:9092")
                .containsEntry(StreamsConfig.STATE_DIR_CONFIG, Path.of("/tmp/agg-state").toAbsolutePath().toString())
                .containsEntry(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "2")
                .containsEntry(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "250")
                .containsEntry("security.protocol", "SSL")
                .containsEntry("consumer.session.timeout.ms", "10000");
    }

    @Test
    void shouldNotIdleTasksUnlessTold() {
        assertThat(Aggregator.streamsProperties(config))
                .containsEntry(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, "-1");
        assertThat(Aggregator.streamsProperties(withKafkaProperties(Map.of(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG,
                "0"))))
                .containsEntry(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, "0");
    }

    @Test
    void shouldBatchTheStreamsProducerInLargerBatchesUnlessTold() {
        assertThat(Aggregator.streamsProperties(config))
                .containsEntry("producer.batch.size", Integer.toString(Aggregator.PRODUCER_BATCH_SIZE));
        assertThat(Aggregator.streamsProperties(withKafkaProperties(Map.of("producer.batch.size", "16384"))))
                .containsEntry("producer.batch.size", "16384");
        assertThat(Aggregator.streamsProperties(withKafkaProperties(Map.of("batch.size", "32768"))))
                .containsEntry("batch.size", "32768")
                .doesNotContainKey("producer.batch.size");
    }

    @Test
    void shouldGiveTheAdminClientOnlyPropertiesItKnows() {
        Properties props = Aggregator.adminProperties(config);

        assertThat(props)
                .containsEntry("bootstrap.servers", "k1:9092,k2:9092")
                .containsEntry("security.protocol", "SSL")
                .containsEntry("request.timeout.ms", "5000")
                .doesNotContainKeys("processing.guarantee", "application.id", "consumer.session.timeout.ms");
    }

    @Test
    void shouldFailToStartWhenKafkaCannotBeReached() {
        AggregatorConfig unreachable = AggregatorConfig.fromArgs(new String[] {"--kafka", "127.0.0.1:1",
                "--listen", "127.0.0.1", "--port", "0", "--kubernetes", "off"}, Map.of(
                "TOKENTAP_KAFKA_ADMIN_DEFAULT_API_TIMEOUT_MS", "1500",
                "TOKENTAP_KAFKA_ADMIN_REQUEST_TIMEOUT_MS", "1000"));

        assertThatThrownBy(() -> Aggregator.start(unreachable))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("cannot ensure topics")
                .hasMessageContaining("127.0.0.1:1");
    }
}
