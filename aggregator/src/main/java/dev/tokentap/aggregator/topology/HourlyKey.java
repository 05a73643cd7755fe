package dev.tokentap.aggregator.topology;

import dev.tokentap.event.EnrichedUsageEvent;
import dev.tokentap.event.Routes;
import java.util.Comparator;

/**
 * What an hourly record is counted under, besides its hour: the client's namespace and its real name, the model and
 * the route. Unlike {@link UsageLabels} no value is capped (billing needs the real ones); each is cut to
 * {@link #MAX_VALUE_LENGTH} characters. The key of the hourly repartition topic and of the hourly window store.
 */
public record HourlyKey(String namespace, String clientName, String model, String route)
        implements Comparable<HourlyKey> {

    /** Longest value kept: client names and models come from clients, and a key must stay small. */
    public static final int MAX_VALUE_LENGTH = 256;

    private static final Comparator<HourlyKey> ORDER = Comparator.comparing(HourlyKey::namespace)
            .thenComparing(HourlyKey::clientName).thenComparing(HourlyKey::model).thenComparing(HourlyKey::route);

    public HourlyKey {
        namespace = bound(namespace);
        clientName = bound(clientName);
        model = bound(model);
        route = bound(route);
    }

    /** The key of an enriched event. */
    static HourlyKey of(EnrichedUsageEvent e) {
        return new HourlyKey(e.client().namespace(), e.client().clientName(), e.event().model(),
                Routes.fullPath(e.event().route()));
    }

    /** The value of one of the dimensions {@code namespace}, {@code client_name}, {@code model}, {@code route}. */
    public String dimension(String name) {
        return switch (name) {
            case "namespace" -> namespace;
            case "client_name" -> clientName;
            case "model" -> model;
            case "route" -> route;
            default -> throw new IllegalArgumentException("no dimension " + name);
        };
    }

    @Override
    public int compareTo(HourlyKey other) {
        return ORDER.compare(this, other);
    }

    private static String bound(String value) {
        if (value == null || value.isEmpty()) {
            return UsageLabels.UNKNOWN;
        }
        return value.length() <= MAX_VALUE_LENGTH ? value : value.substring(0, MAX_VALUE_LENGTH);
    }
}
