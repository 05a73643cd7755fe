package dev.tokentap.testkit.kafka;

import java.util.Map;
import java.util.function.BooleanSupplier;

/** Which Kafka a test class gets, chosen from the environment: an external cluster, Testcontainers, or the in-process broker. */
enum KafkaBackend {
    EXTERNAL,
    TESTCONTAINERS,
    EMBEDDED;

    /** Bootstrap servers of an existing cluster to test against instead of starting one. */
    static final String BOOTSTRAP_ENV = "KAFKA_TEST_BOOTSTRAP";
    /** {@code testcontainers} asks for a broker in Docker; anything else, or nothing, means the in-process broker. */
    static final String BACKEND_ENV = "TOKENTAP_TEST_KAFKA";

    private static final String TESTCONTAINERS_CLASS = "org.testcontainers.kafka.KafkaContainer";

    /**
     * The backend for this environment. Testcontainers is used only if asked for and usable (its classes
     * present and a Docker engine answering); otherwise the in-process broker, which always works here.
     */
    static KafkaBackend select(Map<String, String> env, BooleanSupplier testcontainersUsable) {
        String bootstrap = env.get(BOOTSTRAP_ENV);
        if (bootstrap != null && !bootstrap.isBlank()) {
            return EXTERNAL;
        }
        if ("testcontainers".equalsIgnoreCase(env.getOrDefault(BACKEND_ENV, "").trim()) && testcontainersUsable.getAsBoolean()) {
            return TESTCONTAINERS;
        }
        return EMBEDDED;
    }

    /** True if Testcontainers Kafka is on the classpath and a Docker engine answers; loads nothing of it otherwise. */
    static boolean testcontainersUsable() {
        try {
            Class.forName(TESTCONTAINERS_CLASS, false, KafkaBackend.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
        return TestcontainersKafka.dockerAvailable();
    }
}
