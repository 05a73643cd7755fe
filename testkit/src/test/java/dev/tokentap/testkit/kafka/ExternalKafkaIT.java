package dev.tokentap.testkit.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.opentest4j.TestAbortedException;

/** The external backend, pointed at a broker this class starts itself. */
class ExternalKafkaIT {

    static final EmbeddedKafka REAL = EmbeddedKafka.builder().build().start();

    @RegisterExtension
    static final KafkaExtension KAFKA = new KafkaExtension(Map.of(KafkaBackend.BOOTSTRAP_ENV, REAL.bootstrapServers()));

    @AfterAll
    static void stopRealBroker() {
        REAL.close();
    }

    @Test
    void shouldUseTheNamedClusterAndAbortTestsThatNeedARestart(TestKafka kafka) {
        assertThat(kafka).isInstanceOf(ExternalKafka.class);
        assertThat(kafka.bootstrapServers()).isEqualTo(REAL.bootstrapServers());
        kafka.createTopic("external-" + System.nanoTime(), 1);

        assertThatThrownBy(kafka::restart).isInstanceOf(TestAbortedException.class);
        assertThatThrownBy(kafka::stop).isInstanceOf(TestAbortedException.class);
        assertThat(REAL.isRunning()).isTrue();
    }
}
