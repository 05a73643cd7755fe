package dev.tokentap.testkit.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Injection and settings of the JUnit extension on the in-process backend. */
class KafkaExtensionIT {

    @RegisterExtension
    static final KafkaExtension KAFKA = new KafkaExtension().partitions(3);

    private TestKafka injectedField;
    private final TestKafka injectedConstructor;

    KafkaExtensionIT(TestKafka kafka) {
        this.injectedConstructor = kafka;
    }

    @Test
    void shouldInjectOneStartedBrokerEverywhere(TestKafka parameter, EmbeddedKafka embedded) {
        assertThat(parameter).isSameAs(injectedField).isSameAs(injectedConstructor).isSameAs(embedded);
        assertThat(parameter.isRunning()).isTrue();
    }

    @Test
    void shouldApplyBrokerSettingsGivenToTheExtension(TestKafka kafka) {
        Map<String, Object> config = new HashMap<>(kafka.clientProperties());
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
            // asking for an unknown topic auto-creates it with the broker's num.partitions
            assertThat(producer.partitionsFor("auto-" + System.nanoTime())).hasSize(3);
        }
    }

    @Nested
    class WhenNested {
        @Test
        void shouldShareTheOuterClassBroker(TestKafka kafka) {
            assertThat(kafka).isSameAs(injectedConstructor);
        }
    }
}
