package dev.tokentap.testkit.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/** A per-class test instance is built before beforeAll: the broker must already be there to inject. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(KafkaExtension.class)
class KafkaExtensionPerClassIT {

    private EmbeddedKafka kafka;

    @Test
    void shouldInjectAStartedBrokerIntoAPerClassInstance(TestKafka parameter) {
        assertThat(kafka).isNotNull().isSameAs(parameter);
        assertThat(kafka.isRunning()).isTrue();
    }
}
