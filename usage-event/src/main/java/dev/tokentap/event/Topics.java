package dev.tokentap.event;

import java.util.ArrayList;
import java.util.List;

/**
 * The Kafka topics tokentap reads and writes.
 *
 * @param usage    the usage log tap-proxy writes, one {@link UsageEvent} per request
 * @param enriched one event per request with the caller's resolved identity, for billing consumers
 * @param hourly   final hourly totals per tenant and model
 * @param dlq      records of the usage log that could not be decoded, with the reason in a header
 */
public record Topics(String usage, String enriched, String hourly, String dlq) {

    public static final String USAGE = "tokentap.usage.v1";
    public static final String ENRICHED = "tokentap.usage.enriched.v1";
    public static final String HOURLY = "tokentap.usage.hourly.v1";
    public static final String DLQ = "tokentap.usage.dlq.v1";

    /** The default names. */
    public static final Topics DEFAULT = new Topics(USAGE, ENRICHED, HOURLY, DLQ);

    public Topics {
        List<String> missing = new ArrayList<>();
        if (usage == null || usage.isBlank()) missing.add("usage");
        if (enriched == null || enriched.isBlank()) missing.add("enriched");
        if (hourly == null || hourly.isBlank()) missing.add("hourly");
        if (dlq == null || dlq.isBlank()) missing.add("dlq");
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("topic names must not be blank: " + String.join(", ", missing));
        }
    }

    /** The default names with another usage topic. */
    public static Topics withUsage(String usage) {
        return new Topics(usage, ENRICHED, HOURLY, DLQ);
    }
}
