package dev.tokentap.aggregator;

import dev.tokentap.config.KafkaClients;
import dev.tokentap.config.Problems;
import dev.tokentap.event.Topics;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The Kafka Streams application: where it reads and writes, under which id, with how many threads, how often it
 * commits and where it keeps its state.
 *
 * @param kafka           the Kafka clients' settings, for Streams and the admin client that ensures the topics
 * @param topics          the usage topic it reads, the enriched and dead-letter topics it writes; one of each per
 *                        usage topic, so that aggregators of different usage topics do not write into one
 * @param applicationId   consumer group and prefix of internal topics; replicas share it
 * @param threads         stream threads
 * @param topicPartitions partitions of a topic the aggregator has to create
 * @param commitInterval  commit interval; under exactly-once also how late the totals are
 * @param stateDir        state directory (RocksDB); kept across restarts, it spares a restore
 * @param rocksDbMemory   bytes RocksDB may take outside the heap for every store together: its shared block cache,
 *                        memtables counted in it ({@link BoundedRocksDbMemory})
 */
public record Streams(KafkaClients kafka, Topics topics, String applicationId, int threads, int topicPartitions,
                      Duration commitInterval, Path stateDir, long rocksDbMemory) {

    public static final String DEFAULT_APPLICATION_ID = "tokentap-aggregator";
    public static final int DEFAULT_TOPIC_PARTITIONS = 6;
    public static final String DEFAULT_COMMIT_INTERVAL = "100ms";

    public Streams {
        Problems problems = new Problems()
                .required("--kafka", kafka)
                .required("--topic", topics);
        if (topics != null) {
            problems.kafkaName("--topic", topics.usage())
                    .kafkaName("--enriched-topic", topics.enriched())
                    .kafkaName("--dlq-topic", topics.dlq())
                    .check(!topics.enriched().equals(topics.usage()),
                            "--enriched-topic must not be the usage topic it reads, '" + topics.usage() + "'")
                    .check(!topics.dlq().equals(topics.usage()),
                            "--dlq-topic must not be the usage topic it reads, '" + topics.usage() + "'")
                    .check(!topics.enriched().equals(topics.dlq()),
                            "--enriched-topic and --dlq-topic must differ, both are '" + topics.enriched() + "'");
        }
        problems
                .kafkaName("--application-id", applicationId)
                .atLeast("--stream-threads", threads, 1)
                .atLeast("--topic-partitions", topicPartitions, 1)
                .notNegative("--commit-interval", commitInterval)
                .required("--state-dir", stateDir)
                .atLeast("--rocksdb-memory", rocksDbMemory, BoundedRocksDbMemory.MIN_MEMORY)
                .throwIfAny();
    }

    /** The same application on other Kafka servers (the embedded broker's, once it listens). */
    public Streams withKafka(KafkaClients clients) {
        return new Streams(clients, topics, applicationId, threads, topicPartitions, commitInterval, stateDir,
                rocksDbMemory);
    }
}
