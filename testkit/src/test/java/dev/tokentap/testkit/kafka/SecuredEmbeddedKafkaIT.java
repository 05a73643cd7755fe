package dev.tokentap.testkit.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The broker with SASL/SCRAM logins and ACLs: only a known user with an ACL for the topic may write to it. */
class SecuredEmbeddedKafkaIT {

    private static final String TOPIC = "secured";
    private static EmbeddedKafka kafka;

    @BeforeAll
    static void startSecuredBroker() throws Exception {
        kafka = EmbeddedKafka.builder().scramSha512("admin", "admin-secret").build().start();
        kafka.createTopic(TOPIC, 1);
        try (Admin admin = Admin.create(kafka.clientProperties())) {
            admin.alterUserScramCredentials(List.of(
                    new UserScramCredentialUpsertion("writer", new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                            "writer-secret"),
                    new UserScramCredentialUpsertion("nobody", new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                            "nobody-secret"))).all().get(30, TimeUnit.SECONDS);
            admin.createAcls(List.of(new AclBinding(new ResourcePattern(ResourceType.TOPIC, TOPIC, PatternType.LITERAL),
                    new AccessControlEntry("User:writer", "*", AclOperation.WRITE, AclPermissionType.ALLOW))))
                    .all().get(30, TimeUnit.SECONDS);
        }
    }

    @AfterAll
    static void stopBroker() {
        if (kafka != null) {
            kafka.close();
        }
    }

    @Test
    void shouldLetAUserWithAWriteAclProduce() throws Exception {
        assertThat(send(kafka.clientProperties("writer", "writer-secret")).offset()).isNotNegative();
    }

    @Test
    void shouldRefuseAUserWithoutAnAcl() {
        assertThatThrownBy(() -> send(kafka.clientProperties("nobody", "nobody-secret")))
                .hasCauseInstanceOf(TopicAuthorizationException.class);
    }

    @Test
    void shouldRefuseAWrongPassword() {
        assertThatThrownBy(() -> send(kafka.clientProperties("writer", "guessed")))
                .hasRootCauseInstanceOf(SaslAuthenticationException.class);
    }

    @Test
    void shouldNotServeAClientThatDoesNotLogIn() {
        Map<String, Object> plain = new HashMap<>(kafka.clientProperties("writer", "writer-secret"));
        plain.remove("security.protocol");
        plain.remove("sasl.mechanism");
        plain.remove("sasl.jaas.config");

        // the broker drops a connection that does not start with a SASL handshake: no metadata ever comes back
        assertThatThrownBy(() -> send(plain)).hasCauseInstanceOf(org.apache.kafka.common.errors.TimeoutException.class);
    }

    @Test
    void shouldKeepThePlainDefaultForEveryoneElse() {
        try (EmbeddedKafka plain = EmbeddedKafka.builder().build()) {
            assertThat(plain.secured()).isFalse();
            assertThat(plain.clientProperties()).containsOnlyKeys("bootstrap.servers");
            assertThat(plain.serverProperties().getProperty("listeners")).startsWith("PLAINTEXT://");
            assertThat(plain.serverProperties()).doesNotContainKey("authorizer.class.name");
        }
    }

    private static RecordMetadata send(Map<String, Object> client) throws Exception {
        Map<String, Object> config = new HashMap<>(client);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 5000);
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 10000);
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
            return producer.send(new ProducerRecord<>(TOPIC, "k", "v")).get(20, TimeUnit.SECONDS);
        }
    }
}
