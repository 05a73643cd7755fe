package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.tokentap.event.EnrichedUsageEvent;
import dev.tokentap.event.Routes;
import dev.tokentap.event.UsageEvent;
import java.util.Comparator;

/**
 * The label set one usage series is counted under, and the key of the totals store. Values are never null and
 * never longer than {@link #MAX_VALUE_LENGTH}: they become Prometheus label values.
 *
 * <p>The JSON property order is fixed because the key's bytes decide its partition and its store entry.
 */
@JsonPropertyOrder({"namespace", "client_name", "full_path", "hostname", "model"})
public record UsageLabels(
        @JsonProperty("namespace") String namespace,
        @JsonProperty("client_name") String clientName,
        @JsonProperty("full_path") String fullPath,
        @JsonProperty("hostname") String hostname,
        @JsonProperty("model") String model) implements Comparable<UsageLabels> {

    /** The value of a label whose source is missing. */
    public static final String UNKNOWN = "unknown";

    /** Longest label value kept; longer ones are cut, so a hostile client can't make huge series. */
    public static final int MAX_VALUE_LENGTH = 128;

    private static final Comparator<UsageLabels> ORDER = Comparator.comparing(UsageLabels::namespace)
            .thenComparing(UsageLabels::clientName)
            .thenComparing(UsageLabels::fullPath)
            .thenComparing(UsageLabels::hostname)
            .thenComparing(UsageLabels::model);

    public UsageLabels {
        namespace = bound(namespace);
        clientName = bound(clientName);
        fullPath = bound(fullPath);
        hostname = bound(hostname);
        model = bound(model);
    }

    /** The labels of an event when the caller's pod is not known: namespace {@code unknown}, client = address. */
    public static UsageLabels withoutKubernetes(UsageEvent event) {
        return new UsageLabels(UNKNOWN, event.clientAddress(), Routes.fullPath(event.route()),
                event.proxyHost(), event.model());
    }

    /** The labels of an event whose caller has been resolved: its namespace and client name. */
    public static UsageLabels of(EnrichedUsageEvent enriched) {
        UsageEvent event = enriched.event();
        return new UsageLabels(enriched.client().namespace(), enriched.client().clientName(),
                Routes.fullPath(event.route()), event.proxyHost(), event.model());
    }

    @Override
    public int compareTo(UsageLabels other) {
        return ORDER.compare(this, other);
    }

    private static String bound(String value) {
        if (value == null || value.isEmpty()) {
            return UNKNOWN;
        }
        return value.length() <= MAX_VALUE_LENGTH ? value : value.substring(0, MAX_VALUE_LENGTH);
    }
}
