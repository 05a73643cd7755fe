package dev.tokentap.testkit.kafka;

import java.util.Objects;
import org.junit.jupiter.api.Assumptions;

/** A Kafka cluster the kit does not own, named by {@code KAFKA_TEST_BOOTSTRAP}: used as is, never started or stopped. */
final class ExternalKafka implements TestKafka {

    private final String bootstrapServers;

    ExternalKafka(String bootstrapServers) {
        this.bootstrapServers = Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    }

    @Override
    public String bootstrapServers() {
        return bootstrapServers;
    }

    @Override
    public TestKafka start() {
        return this;
    }

    @Override
    public void stop() {
        Assumptions.abort("stopping Kafka needs the in-process broker; " + KafkaBackend.BOOTSTRAP_ENV + " names an external one");
    }

    @Override
    public void restart() {
        Assumptions.abort("restarting Kafka needs the in-process broker; " + KafkaBackend.BOOTSTRAP_ENV + " names an external one");
    }

    @Override
    public boolean isRunning() {
        return true;
    }

    @Override
    public void close() {
        // not ours to stop
    }

    @Override
    public String toString() {
        return "ExternalKafka[" + bootstrapServers + "]";
    }
}
