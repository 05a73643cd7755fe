package dev.tokentap.proxy.publish;

import dev.tokentap.config.KafkaClients;
import dev.tokentap.config.Problems;
import java.nio.file.Path;

/**
 * Where usage events go and what holds them on the way.
 *
 * @param kafka the Kafka clients' settings
 * @param topic the usage topic
 * @param queue capacity of the memory queue in front of the spool writer (or of Kafka, without a spool)
 * @param spool the disk spool; null publishes from memory only
 */
public record Publishing(KafkaClients kafka, String topic, int queue, Spool spool) {

    public static final String DEFAULT_SPOOL_DIR = "./tokentap-spool";

    public Publishing {
        new Problems().required("--kafka", kafka).kafkaName("--topic", topic).atLeast("--publish-queue", queue, 1)
                .throwIfAny();
    }

    /** The same on other Kafka servers (the embedded broker's, once it listens). */
    public Publishing withKafka(KafkaClients clients) {
        return new Publishing(clients, topic, queue, spool);
    }

    /**
     * The disk spool.
     *
     * @param dir      its directory; one proxy per directory
     * @param maxBytes its cap: events beyond it are dropped and counted
     */
    public record Spool(Path dir, long maxBytes) {
        public static final long MIN_BYTES = 1 << 20;

        public Spool {
            new Problems().required("--spool-dir", dir)
                    .atLeast("--spool-max-bytes", maxBytes, MIN_BYTES)
                    .throwIfAny();
        }
    }
}
