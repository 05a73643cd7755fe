package dev.tokentap.testkit.kafka;

import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * A Kafka cluster that a test talks to: the in-process broker, a Testcontainers broker or an external one.
 *
 * <p>{@link #stop()}, {@link #start()} and {@link #restart()} are only possible where the kit owns the broker;
 * on the other backends they abort the calling test (JUnit reports it as skipped), so a test that needs
 * a restart simply does not run against an external cluster.
 */
public interface TestKafka extends AutoCloseable {

    /** The {@code bootstrap.servers} value for clients; stays the same across {@link #restart()}. */
    String bootstrapServers();

    /** Starts the broker if it is not running. */
    TestKafka start();

    /** Shuts the broker down and waits until it has stopped; its data stays. */
    void stop();

    /** Stops and starts the broker on the same data and the same address. */
    void restart();

    boolean isRunning();

    /** Client properties that reach this cluster; add serializers and the like to a copy. */
    default Map<String, Object> clientProperties() {
        return Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    }

    /**
     * Creates a topic with the broker's default replication factor and waits until the cluster has it;
     * an existing topic of that name is left as it is, so a class that shares one broker can call it per test.
     */
    default void createTopic(String name, int partitions) {
        try (Admin admin = Admin.create(clientProperties())) {
            admin.createTopics(Set.of(new NewTopic(name, Optional.of(partitions), Optional.empty())))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException("could not create topic " + name, e.getCause());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topic " + name, e);
        } catch (TimeoutException e) {
            throw new IllegalStateException("timed out creating topic " + name, e);
        }
    }

    /** Releases what the kit owns for this cluster; never throws a checked exception. */
    @Override
    void close();
}
