package dev.tokentap.event;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Who made a request, as the aggregator resolved it: every signal it had (the caller's pod and workload, the
 * tenant header, the API key alias, the address), and the {@link #clientName()} it chose from them. Carried as the
 * {@code client} object of an {@link EnrichedUsageEvent}; absent signals are null.
 *
 * @param namespace        the caller pod's namespace, {@value #UNKNOWN} when no pod matched
 * @param pod              the caller pod's name
 * @param workloadKind     {@code Deployment}, {@code StatefulSet}, {@code DaemonSet}, {@code Job},
 *                         {@code CronJob}, {@code ReplicaSet} or {@code Pod} (a bare pod)
 * @param workload         the workload's name (the pod's own name for a bare pod)
 * @param serviceAccount   the pod's service account
 * @param node             the node the pod ran on
 * @param labels           the pod's labels that the aggregator is configured to carry, sorted by name
 * @param apiKeyAlias      the name the operator gave the event's {@code api_key_id}, when one is configured
 * @param clientName       the name the totals are counted under
 * @param clientNameSource which signal {@link #clientName()} came from: {@value #SOURCE_TENANT},
 *                         {@value #SOURCE_WORKLOAD}, {@value #SOURCE_API_KEY} or {@value #SOURCE_ADDRESS}
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"namespace", "pod", "workload_kind", "workload", "service_account", "node", "labels",
        "api_key_alias", "client_name", "client_name_source"})
public record ClientIdentity(
        String namespace,
        String pod,
        String workloadKind,
        String workload,
        String serviceAccount,
        String node,
        SortedMap<String, String> labels,
        String apiKeyAlias,
        String clientName,
        String clientNameSource) {

    /** The namespace of a caller that is not a known pod. */
    public static final String UNKNOWN = "unknown";

    public static final String SOURCE_TENANT = "tenant";
    public static final String SOURCE_WORKLOAD = "workload";
    public static final String SOURCE_API_KEY = "api_key";
    public static final String SOURCE_ADDRESS = "address";

    public ClientIdentity {
        labels = labels == null || labels.isEmpty() ? null
                : java.util.Collections.unmodifiableSortedMap(new TreeMap<>(labels));
        if (namespace == null || namespace.isEmpty()) {
            namespace = UNKNOWN;
        }
    }

    /** The carried labels, empty when none. */
    public Map<String, String> labelsOrEmpty() {
        return labels == null ? Map.of() : labels;
    }
}
