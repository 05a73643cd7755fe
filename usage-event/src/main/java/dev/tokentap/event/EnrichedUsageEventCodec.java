package dev.tokentap.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;

/**
 * Reads and writes {@link EnrichedUsageEvent} JSON: the usage event's fields as {@link UsageEventCodec} writes
 * them, then {@code "client": {…}} and, when the request has one, {@code "cost": {"USD": "0.00012"}}. A reader
 * that knows only {@link UsageEvent} can read it as one (unknown fields
 * are ignored). Thread-safe; share one instance.
 */
public final class EnrichedUsageEventCodec {

    private static final ObjectMapper MAPPER = UsageEventCodec.newMapper();
    // one pass: the event's properties unwrapped, then the client; the aggregator writes one of these per event
    private static final ObjectWriter WRITER = MAPPER.writerFor(Wire.class);

    private final UsageEventCodec events = new UsageEventCodec();

    /** The enriched event as UTF-8 JSON. */
    public byte[] encode(EnrichedUsageEvent enriched) {
        try {
            return WRITER.writeValueAsBytes(new Wire(enriched.event(), enriched.client(), enriched.cost()));
        } catch (JsonProcessingException e) {
            // our own record of strings and numbers always serialises; reaching this is a bug
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The enriched event in {@code json}.
     *
     * @throws UsageEventDecodeException when the event part is not readable (see {@link UsageEventCodec#decode})
     *                                   or the {@code client} object is missing or malformed
     */
    public EnrichedUsageEvent decode(byte[] json) {
        UsageEvent event = events.decode(json);
        try {
            JsonNode tree = MAPPER.readTree(json);
            JsonNode client = tree.get(EnrichedUsageEvent.CLIENT_FIELD);
            if (client == null || !client.isObject()) {
                throw new UsageEventDecodeException(UsageEventDecodeException.MISSING_FIELD,
                        "enriched usage event lacks client");
            }
            JsonNode cost = tree.get(EnrichedUsageEvent.COST_FIELD);
            return new EnrichedUsageEvent(event, MAPPER.treeToValue(client, ClientIdentity.class),
                    cost == null || !cost.isObject() ? null : MAPPER.treeToValue(cost, Cost.class));
        } catch (IOException e) {
            throw new UsageEventDecodeException(UsageEventDecodeException.MALFORMED,
                    "not an enriched usage event: " + e.getMessage(), e);
        }
    }

    /**
     * The wire shape: the event's own JSON object, field for field, with {@code client} and then {@code cost} (when
     * there is one) added last.
     */
    @JsonPropertyOrder({"event", EnrichedUsageEvent.CLIENT_FIELD, EnrichedUsageEvent.COST_FIELD})
    private record Wire(@JsonUnwrapped UsageEvent event,
                        @JsonProperty(EnrichedUsageEvent.CLIENT_FIELD) ClientIdentity client,
                        @JsonProperty(EnrichedUsageEvent.COST_FIELD) Cost cost) {
    }

    /** A Kafka serde over this codec; the deserializer throws {@link SerializationException} on a bad record. */
    public static Serde<EnrichedUsageEvent> serde() {
        EnrichedUsageEventCodec codec = new EnrichedUsageEventCodec();
        return CodecSerde.of(codec::encode, codec::decode);
    }
}
