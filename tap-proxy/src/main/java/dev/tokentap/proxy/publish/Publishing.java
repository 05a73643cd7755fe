package dev.tokentap.proxy.publish;

import dev.tokentap.config.KafkaClients;
import dev.tokentap.config.Problems;
import java.nio.file.Path;
import java.time.Duration;

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
     * @param dir          its directory; one proxy per directory
     * @param maxBytes     its cap: events beyond it are dropped and counted
     * @param writeTimeout how long the end of a response waits for its event to be written to the spool's file;
     *                     past it the response ends and the event is written later
     */
    public record Spool(Path dir, long maxBytes, Duration writeTimeout) {
        public static final long MIN_BYTES = 1 << 20;
        public static final Duration DEFAULT_WRITE_TIMEOUT = Duration.ofSeconds(1);
        public static final Duration MIN_WRITE_TIMEOUT = Duration.ofMillis(1);

        public Spool {
            new Problems().required("--spool-dir", dir)
                    .atLeast("--spool-max-bytes", maxBytes, MIN_BYTES)
                    .check(writeTimeout != null && writeTimeout.compareTo(MIN_WRITE_TIMEOUT) >= 0,
                            "--spool-write-timeout must be at least 1ms, got " + writeTimeout)
                    .throwIfAny();
        }

        /** A spool whose responses wait at most {@link #DEFAULT_WRITE_TIMEOUT} for their event's write. */
        public Spool(Path dir, long maxBytes) {
            this(dir, maxBytes, DEFAULT_WRITE_TIMEOUT);
        }
    }
}
