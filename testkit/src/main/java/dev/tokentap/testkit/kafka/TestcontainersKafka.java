package dev.tokentap.testkit.kafka;

import org.apache.kafka.common.utils.AppInfoParser;
import org.junit.jupiter.api.Assumptions;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.kafka.KafkaContainer;

/**
 * A broker in a Docker container through Testcontainers, for machines that have a Docker engine.
 *
 * <p>Testcontainers is an optional dependency: this class is the only one that names its types, and
 * {@link KafkaBackend} touches it only after checking that they are on the classpath. A container cannot be
 * restarted on the same mapped port, so stop and restart abort the calling test like on an external cluster.
 */
final class TestcontainersKafka implements TestKafka {

    static final String IMAGE_ENV = "TOKENTAP_TEST_KAFKA_IMAGE";

    private final KafkaContainer container;

    TestcontainersKafka(String image) {
        this.container = new KafkaContainer(image);
    }

    /** The apache/kafka image of the same version as the kafka-clients on the classpath. */
    static String defaultImage() {
        return "apache/kafka:" + AppInfoParser.getVersion();
    }

    static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    @Override
    public String bootstrapServers() {
        return container.getBootstrapServers();
    }

    @Override
    public TestKafka start() {
        container.start();
        return this;
    }

    @Override
    public void stop() {
        Assumptions.abort("stopping Kafka needs the in-process broker; the Testcontainers one cannot come back on the same port");
    }

    @Override
    public void restart() {
        Assumptions.abort("restarting Kafka needs the in-process broker; the Testcontainers one cannot come back on the same port");
    }

    @Override
    public boolean isRunning() {
        return container.isRunning();
    }

    @Override
    public void close() {
        container.stop();
    }

    @Override
    public String toString() {
        return "TestcontainersKafka[" + container.getDockerImageName() + "]";
    }
}
