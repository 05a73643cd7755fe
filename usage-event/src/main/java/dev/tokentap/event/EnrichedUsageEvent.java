package dev.tokentap.event;

import java.util.Objects;

/**
 * One request with its caller's resolved identity: what the aggregator writes to {@link Topics#ENRICHED}, keyed
 * by {@link ClientIdentity#clientName()}, for billing consumers. On the wire it is the {@link UsageEvent}'s JSON
 * object, field for field, plus a {@code client} object; read and write it with {@link EnrichedUsageEventCodec}.
 *
 * @param event  the usage event as the proxy published it
 * @param client who made the request
 */
public record EnrichedUsageEvent(UsageEvent event, ClientIdentity client) {

    /** The name of the JSON property holding {@link #client()}. */
    public static final String CLIENT_FIELD = "client";

    public EnrichedUsageEvent {
        Objects.requireNonNull(event, "event");
        Objects.requireNonNull(client, "client");
    }
}
