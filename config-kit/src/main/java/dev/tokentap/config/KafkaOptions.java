package dev.tokentap.config;

import dev.tokentap.event.Topics;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The Kafka options every process shares, declared once: the bootstrap servers, the usage topic, and the client
 * properties from {@code TOKENTAP_KAFKA_*}. A {@code @Mixin} of tap-proxy, the aggregator and {@code tokentap run}.
 */
public final class KafkaOptions implements EnvironmentAware {

    @EnvAlias("KAFKA_BOOTSTRAP_SERVERS")
    @Option(names = "--kafka", paramLabel = "HOST:PORT,…",
            description = "Kafka bootstrap servers (default " + KafkaClients.DEFAULT_BOOTSTRAP
                    + "; tokentap run and demo: an embedded broker)")
    String bootstrap;

    @Option(names = "--topic", paramLabel = "NAME", defaultValue = Topics.USAGE,
            description = "the usage topic: tap-proxy writes it, the aggregator reads it")
    String topic;

    private Map<String, String> properties = Map.of();

    @Override
    public void environment(Map<String, String> env) {
        properties = Environment.kafkaProperties(env);
    }

    /** The bootstrap servers given by flag or variable, or null. */
    public String given() {
        return bootstrap == null || bootstrap.isBlank() ? null : bootstrap.strip();
    }

    /** The clients' settings, on {@link KafkaClients#DEFAULT_BOOTSTRAP} unless servers were given. */
    public KafkaClients clients() {
        return clients(given() != null ? given() : KafkaClients.DEFAULT_BOOTSTRAP);
    }

    /** The clients' settings on {@code bootstrap}. */
    public KafkaClients clients(String servers) {
        return new KafkaClients(servers, properties);
    }

    public String topic() {
        return topic;
    }
}
