package dev.tokentap.testkit.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The broker settings the kit chooses, without starting a broker. */
class EmbeddedKafkaPropertiesTest {

    private static final String ADD_PARTITIONS_RETRY_MAX = "add.partitions.to.txn.retry.backoff.max.ms";

    @Test
    void shouldLetTheBrokerWaitOutSlowTransactionMarkersItself(@TempDir Path dir) {
        EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(dir).build();

        assertThat(kafka.serverProperties().getProperty(ADD_PARTITIONS_RETRY_MAX)).isEqualTo("5000");
    }

    @Test
    void shouldLetABrokerPropertyWinOverTheKitsChoice(@TempDir Path dir) {
        EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(dir).brokerProperty(ADD_PARTITIONS_RETRY_MAX, "100").build();

        assertThat(kafka.serverProperties().getProperty(ADD_PARTITIONS_RETRY_MAX)).isEqualTo("100");
    }
}
