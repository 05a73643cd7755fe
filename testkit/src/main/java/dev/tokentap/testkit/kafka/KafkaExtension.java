package dev.tokentap.testkit.kafka;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestInstancePostProcessor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * JUnit 5 extension that gives each test class one Kafka cluster: started before the first test, closed after the last.
 *
 * <p>Use {@code @ExtendWith(KafkaExtension.class)} for the defaults, or a static
 * {@code @RegisterExtension static final KafkaExtension KAFKA = new KafkaExtension().partitions(3);} to tune the
 * in-process broker. The cluster is injected as a {@link TestKafka} (or, on the in-process backend, as an
 * {@link EmbeddedKafka}) into constructor and method parameters and into null instance fields of those types.
 *
 * <p>Which cluster: {@code KAFKA_TEST_BOOTSTRAP} set → that external cluster, used as is; else
 * {@code TOKENTAP_TEST_KAFKA=testcontainers} with Testcontainers on the classpath and a Docker engine → a container;
 * else the in-process {@link EmbeddedKafka} on a fresh temp dir. Nested test classes share their outer class's cluster.
 */
public final class KafkaExtension implements BeforeAllCallback, AfterAllCallback, TestInstancePostProcessor, ParameterResolver {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaExtension.class);
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(KafkaExtension.class);
    private static final String KEY = "kafka";

    private final Map<String, String> brokerProperties = new LinkedHashMap<>();
    private final Map<String, String> env;

    public KafkaExtension() {
        this(System.getenv());
    }

    KafkaExtension(Map<String, String> env) {
        this.env = Map.copyOf(env);
    }

    /** Partitions of auto-created topics on the in-process broker. */
    public KafkaExtension partitions(int partitions) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be at least 1, got " + partitions);
        }
        return brokerProperty("num.partitions", Integer.toString(partitions));
    }

    /** A setting for the in-process broker; ignored by the other backends. */
    public KafkaExtension brokerProperty(String key, String value) {
        brokerProperties.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
        return this;
    }

    /** The cluster of the test class that {@code context} belongs to, for other extensions; fails if none was started. */
    public static TestKafka kafka(ExtensionContext context) {
        TestKafka kafka = context.getStore(NAMESPACE).get(KEY, TestKafka.class);
        if (kafka == null) {
            throw new IllegalStateException("no Kafka for " + context.getDisplayName()
                    + ": register KafkaExtension on the class (@ExtendWith or a static @RegisterExtension field)");
        }
        return kafka;
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        kafkaOf(context);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        // remove() only sees this level: a nested class leaves the outer class's cluster alone
        TestKafka kafka = context.getStore(NAMESPACE).remove(KEY, TestKafka.class);
        if (kafka != null) {
            kafka.close();
        }
    }

    @Override
    public void postProcessTestInstance(Object testInstance, ExtensionContext context) throws IllegalAccessException {
        for (Class<?> type = testInstance.getClass(); type != null && type != Object.class; type = type.getSuperclass()) {
            for (Field field : type.getDeclaredFields()) {
                if (Modifier.isStatic(field.getModifiers()) || Modifier.isFinal(field.getModifiers()) || !injectable(field.getType())) {
                    continue;
                }
                field.setAccessible(true);
                if (field.get(testInstance) == null) {
                    field.set(testInstance, resolve(field.getType(), context));
                }
            }
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return injectable(parameterContext.getParameter().getType());
    }

    @Override
    public Object resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return resolve(parameterContext.getParameter().getType(), extensionContext);
    }

    private static boolean injectable(Class<?> type) {
        return type == TestKafka.class || type == EmbeddedKafka.class;
    }

    private Object resolve(Class<?> type, ExtensionContext context) {
        TestKafka kafka = kafkaOf(context);
        if (!type.isInstance(kafka)) {
            throw new ParameterResolutionException("this test asks for " + type.getSimpleName()
                    + " but the Kafka backend is " + kafka + "; ask for TestKafka to run on any backend");
        }
        return kafka;
    }

    /**
     * The test class's cluster, started on first need: usually in beforeAll, but a per-class test instance is
     * built (and injected) before that. Kept in the class-level store, where lookups also see an enclosing
     * class's cluster, so a nested class shares it.
     */
    private TestKafka kafkaOf(ExtensionContext context) {
        ExtensionContext classContext = context;
        while (classContext.getTestMethod().isPresent() && classContext.getParent().isPresent()) {
            classContext = classContext.getParent().get();
        }
        ExtensionContext.Store store = classContext.getStore(NAMESPACE);
        String testClass = classContext.getDisplayName();
        return store.getOrComputeIfAbsent(KEY, key -> {
            TestKafka kafka = open();
            LOG.debug("kafka for test class class={} kafka={} bootstrap={}", testClass, kafka, kafka.bootstrapServers());
            return kafka;
        }, TestKafka.class);
    }

    private TestKafka open() {
        KafkaBackend backend = KafkaBackend.select(env, KafkaBackend::testcontainersUsable);
        if (backend == KafkaBackend.EMBEDDED && "testcontainers".equalsIgnoreCase(env.getOrDefault(KafkaBackend.BACKEND_ENV, "").trim())) {
            LOG.warn("kafka backend testcontainers requested but unusable (no Testcontainers on the classpath or no Docker engine); using the in-process broker");
        }
        switch (backend) {
            case EXTERNAL:
                return new ExternalKafka(env.get(KafkaBackend.BOOTSTRAP_ENV).trim());
            case TESTCONTAINERS:
                return new TestcontainersKafka(env.getOrDefault(TestcontainersKafka.IMAGE_ENV, TestcontainersKafka.defaultImage())).start();
            default:
                EmbeddedKafka.Builder builder = EmbeddedKafka.builder();
                brokerProperties.forEach(builder::brokerProperty);
                return builder.build().start();
        }
    }
}
