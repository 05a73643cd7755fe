package dev.tokentap.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

/**
 * What Strimzi's User Operator makes of a {@code KafkaUser} with {@code authorization.type: simple}: one Kafka ACL
 * per resource and operation, for the principal {@code User:<name>}. Lets a test put the shipped users' rights
 * on a real broker.
 */
final class StrimziAcls {

    private StrimziAcls() {
    }

    static List<AclBinding> of(JsonNode kafkaUser) {
        String principal = "User:" + Manifests.name(kafkaUser);
        JsonNode authorization = kafkaUser.path("spec").path("authorization");
        if (!"simple".equals(authorization.path("type").asText())) {
            throw new IllegalArgumentException(Manifests.id(kafkaUser) + " has no simple authorization");
        }
        List<AclBinding> bindings = new ArrayList<>();
        for (JsonNode rule : authorization.path("acls")) {
            JsonNode resource = rule.path("resource");
            ResourcePattern pattern = new ResourcePattern(resourceType(resource.path("type").asText()),
                    resource.path("type").asText().equals("cluster") ? "kafka-cluster" : resource.path("name").asText(),
                    "prefix".equals(resource.path("patternType").asText("literal")) ? PatternType.PREFIXED
                            : PatternType.LITERAL);
            AclPermissionType permission = "deny".equals(rule.path("type").asText("allow"))
                    ? AclPermissionType.DENY : AclPermissionType.ALLOW;
            if (!rule.path("operations").isArray() || rule.path("operations").isEmpty()) {
                throw new IllegalArgumentException(Manifests.id(kafkaUser) + ": a rule without operations (v1 requires them)");
            }
            for (JsonNode operation : rule.path("operations")) {
                bindings.add(new AclBinding(pattern, new AccessControlEntry(principal, rule.path("host").asText("*"),
                        operation(operation.asText()), permission)));
            }
        }
        return bindings;
    }

    private static ResourceType resourceType(String strimzi) {
        return switch (strimzi) {
            case "topic" -> ResourceType.TOPIC;
            case "group" -> ResourceType.GROUP;
            case "transactionalId" -> ResourceType.TRANSACTIONAL_ID;
            case "cluster" -> ResourceType.CLUSTER;
            default -> throw new IllegalArgumentException("unknown Strimzi ACL resource type " + strimzi);
        };
    }

    /** {@code DescribeConfigs} to {@link AclOperation#DESCRIBE_CONFIGS}. */
    private static AclOperation operation(String strimzi) {
        String constant = strimzi.replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT);
        return AclOperation.valueOf(constant);
    }
}
