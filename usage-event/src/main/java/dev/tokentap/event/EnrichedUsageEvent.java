package dev.tokentap.event;

import java.util.Objects;

/**
 * One request with its caller's resolved identity: what the aggregator writes to {@link Topics#ENRICHED}, keyed
 * by {@link ClientIdentity#clientName()}, for billing consumers. On the wire it is the {@link UsageEvent}'s JSON
 * object, field for field, plus a {@code client} object; read and write it with {@link EnrichedUsageEventCodec}.
 *
 * @param event  the usage event as the proxy published it
 * @param client who made the request
 * @param cost   what the request cost at the price in force at its {@code started_at}; null when the aggregator has
 *               no price for its model, or no prices at all
 */
public record EnrichedUsageEvent(UsageEvent event, ClientIdentity client, Cost cost) {

    /** The name of the JSON property holding {@link #client()}. */
    public static final String CLIENT_FIELD = "client";
    /** The name of the JSON property holding {@link #cost()}. */
    public static final String COST_FIELD = "cost";

    public EnrichedUsageEvent {
        Objects.requireNonNull(event, "event");
        Objects.requireNonNull(client, "client");
    }

    /** The request without a cost. */
    public EnrichedUsageEvent(UsageEvent event, ClientIdentity client) {
        this(event, client, null);
    }
}
