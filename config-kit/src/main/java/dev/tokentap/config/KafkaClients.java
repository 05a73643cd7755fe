package dev.tokentap.config;

import java.util.Map;
import java.util.TreeMap;

/**
 * Where Kafka is and how every client of it is set up: the bootstrap servers and the client properties from
 * {@code TOKENTAP_KAFKA_*} (security, timeouts), given to every producer, consumer, admin and Streams client a process
 * makes.
 *
 * @param bootstrap  the bootstrap servers, {@code host:port,…}
 * @param properties client properties as Kafka names them ({@code security.protocol})
 */
public record KafkaClients(String bootstrap, Map<String, String> properties) {

    public static final String DEFAULT_BOOTSTRAP = "localhost:9092";

    public KafkaClients {
        properties = properties == null ? Map.of() : Map.copyOf(new TreeMap<>(properties));
        new Problems().required("--kafka", bootstrap).throwIfAny();
    }

    public KafkaClients withBootstrap(String servers) {
        return new KafkaClients(servers, properties);
    }

    /** Whether the properties ask for TLS or SASL, which a plaintext broker cannot answer. */
    public boolean secured() {
        return properties.keySet().stream().anyMatch(key -> key.startsWith("ssl.") || key.startsWith("sasl."))
                || !"PLAINTEXT".equalsIgnoreCase(properties.getOrDefault("security.protocol", "PLAINTEXT"));
    }

    @Override
    public String toString() {
        // property values may hold passwords (sasl.jaas.config)
        return "KafkaClients[bootstrap=" + bootstrap + ", properties=" + properties.keySet() + "]";
    }
}
