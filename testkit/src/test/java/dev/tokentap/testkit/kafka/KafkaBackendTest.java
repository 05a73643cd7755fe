package dev.tokentap.testkit.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** How the environment picks the Kafka a test class gets. */
class KafkaBackendTest {

    @Test
    void shouldUseTheInProcessBrokerByDefault() {
        assertThat(KafkaBackend.select(Map.of(), () -> true)).isEqualTo(KafkaBackend.EMBEDDED);
    }

    @Test
    void shouldUseAnExternalClusterWhenBootstrapIsGiven() {
        Map<String, String> env = Map.of("KAFKA_TEST_BOOTSTRAP", "kafka:9092", "TOKENTAP_TEST_KAFKA", "testcontainers");

        assertThat(KafkaBackend.select(env, () -> true)).isEqualTo(KafkaBackend.EXTERNAL);
    }

    @Test
    void shouldIgnoreABlankBootstrap() {
        assertThat(KafkaBackend.select(Map.of("KAFKA_TEST_BOOTSTRAP", " "), () -> true)).isEqualTo(KafkaBackend.EMBEDDED);
    }

    @Test
    void shouldUseTestcontainersOnlyWhenAskedAndUsable() {
        Map<String, String> env = Map.of("TOKENTAP_TEST_KAFKA", "testcontainers");

        assertThat(KafkaBackend.select(env, () -> true)).isEqualTo(KafkaBackend.TESTCONTAINERS);
        assertThat(KafkaBackend.select(env, () -> false)).isEqualTo(KafkaBackend.EMBEDDED);
        assertThat(KafkaBackend.select(Map.of(), () -> true)).isEqualTo(KafkaBackend.EMBEDDED);
    }
}
