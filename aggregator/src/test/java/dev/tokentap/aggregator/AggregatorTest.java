package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

class AggregatorTest {

    private final AggregatorConfig config = AggregatorConfig.builder()
            .kafka("k1:9092,k2:9092")
            .applicationId("agg-test")
            .stateDir(Path.of("/tmp/agg-state"))
            .streamThreads(2)
            .commitInterval(Duration.ofMillis(250))
            .kafkaProperty("processing.guarantee", "at_least_once")
            .kafkaProperty("application.id", "overridden?")
            .kafkaProperty("security.protocol", "SSL")
            .kafkaProperty("consumer.session.timeout.ms", "10000")
            .kafkaProperty("admin.request.timeout.ms", "5000")
            .build();

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
        assertThat(Aggregator.streamsProperties(AggregatorConfig.builder()
                .kafkaProperty(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, "0").build()))
                .containsEntry(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, "0");
    }

    @Test
    void shouldBatchTheStreamsProducerInLargerBatchesUnlessTold() {
        assertThat(Aggregator.streamsProperties(config))
                .containsEntry("producer.batch.size", Integer.toString(Aggregator.PRODUCER_BATCH_SIZE));
        assertThat(Aggregator.streamsProperties(AggregatorConfig.builder()
                .kafkaProperty("producer.batch.size", "16384").build()))
                .containsEntry("producer.batch.size", "16384");
        assertThat(Aggregator.streamsProperties(AggregatorConfig.builder()
                .kafkaProperty("batch.size", "32768").build()))
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
        AggregatorConfig unreachable = AggregatorConfig.builder()
                .kafka("127.0.0.1:1")
                .port(0)
                .kafkaProperty("admin.default.api.timeout.ms", "1500")
                .kafkaProperty("admin.request.timeout.ms", "1000")
                .build();

        assertThatThrownBy(() -> Aggregator.start(unreachable))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("cannot ensure topics")
                .hasMessageContaining("127.0.0.1:1");
    }
}
