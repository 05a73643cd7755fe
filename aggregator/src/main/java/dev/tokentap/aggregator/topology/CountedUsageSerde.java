package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import dev.tokentap.event.Cost;
import dev.tokentap.event.UsageEvent;
import java.io.IOException;
import java.math.BigDecimal;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The value serde of the repartition topics: of each event only what {@link UsageTotals#add} and {@link UsageSums}
 * read (outcome, token counts, audio seconds, timestamps, stream), under the event's own JSON names, and its cost.
 * The labels travel in the key, so the rest of the event would only be written, fetched and parsed again for
 * nothing.
 *
 * <p>It reads any JSON object with those names and skips the others, so a repartition topic that still holds whole
 * events (written by a version that sent them) is read the same way.
 */
final class CountedUsageSerde implements Serde<Counted> {

    static final String OUTCOME = "outcome";
    static final String STARTED_AT = "started_at";
    static final String FIRST_BYTE_AT = "first_byte_at";
    static final String ENDED_AT = "ended_at";
    static final String STREAM = "stream";
    static final String PROMPT_TOKENS = "prompt_tokens";
    static final String COMPLETION_TOKENS = "completion_tokens";
    static final String TOTAL_TOKENS = "total_tokens";
    static final String CACHED_TOKENS = "cached_tokens";
    static final String REASONING_TOKENS = "reasoning_tokens";
    static final String AUDIO_SECONDS = "audio_seconds";
    static final String COST = "cost";
    static final String UNPRICED = "unpriced";

    private static final JsonFactory JSON = new JsonFactory();

    @Override
    public Serializer<Counted> serializer() {
        return (topic, counted) -> counted == null ? null : write(counted);
    }

    @Override
    public Deserializer<Counted> deserializer() {
        return (topic, bytes) -> bytes == null ? null : read(bytes);
    }

    static byte[] write(Counted counted) {
        UsageEvent event = counted.event();
        try (ByteArrayBuilder out = new ByteArrayBuilder(160)) {
            try (JsonGenerator json = JSON.createGenerator(out)) {
                json.writeStartObject();
                if (event.outcome() != null) {
                    json.writeStringField(OUTCOME, event.outcome());
                }
                writeNumber(json, STARTED_AT, event.startedAt());
                writeNumber(json, FIRST_BYTE_AT, event.firstByteAt());
                writeNumber(json, ENDED_AT, event.endedAt());
                json.writeBooleanField(STREAM, event.stream());
                writeNumber(json, PROMPT_TOKENS, event.promptTokens());
                writeNumber(json, COMPLETION_TOKENS, event.completionTokens());
                writeNumber(json, TOTAL_TOKENS, event.totalTokens());
                writeNumber(json, CACHED_TOKENS, event.cachedTokens());
                writeNumber(json, REASONING_TOKENS, event.reasoningTokens());
                if (event.audioSeconds() != null) {
                    json.writeNumberField(AUDIO_SECONDS, event.audioSeconds());
                }
                if (counted.cost() != null) {
                    json.writeObjectFieldStart(COST);
                    for (var amount : counted.cost().amounts().entrySet()) {
                        json.writeStringField(amount.getKey(), Cost.plain(amount.getValue()));
                    }
                    json.writeEndObject();
                }
                if (counted.unpriced()) {
                    json.writeBooleanField(UNPRICED, true);
                }
                json.writeEndObject();
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new SerializationException("cannot write the counted part of a usage event", e);
        }
    }

    static Counted read(byte[] bytes) {
        UsageEvent.Builder event = UsageEvent.builder();
        Cost cost = null;
        boolean unpriced = false;
        try (JsonParser json = JSON.createParser(bytes)) {
            if (json.nextToken() != JsonToken.START_OBJECT) {
                throw new SerializationException("not a JSON object");
            }
            String name;
            while ((name = json.nextFieldName()) != null) {
                JsonToken value = json.nextToken();
                switch (name) {
                    case OUTCOME -> event.outcome(value == JsonToken.VALUE_NULL ? null : json.getValueAsString());
                    case STARTED_AT -> event.startedAt(readLong(json, value));
                    case FIRST_BYTE_AT -> event.firstByteAt(readLong(json, value));
                    case ENDED_AT -> event.endedAt(readLong(json, value));
                    case STREAM -> event.stream(value == JsonToken.VALUE_TRUE);
                    case PROMPT_TOKENS -> event.promptTokens(readLong(json, value));
                    case COMPLETION_TOKENS -> event.completionTokens(readLong(json, value));
                    case TOTAL_TOKENS -> event.totalTokens(readLong(json, value));
                    case CACHED_TOKENS -> event.cachedTokens(readLong(json, value));
                    case REASONING_TOKENS -> event.reasoningTokens(readLong(json, value));
                    case AUDIO_SECONDS -> event.audioSeconds(value == JsonToken.VALUE_NULL ? null
                            : json.getValueAsDouble());
                    case COST -> cost = value == JsonToken.START_OBJECT ? readCost(json) : null;
                    case UNPRICED -> unpriced = value == JsonToken.VALUE_TRUE;
                    default -> json.skipChildren();
                }
            }
            return new Counted(event.build(), cost, unpriced);
        } catch (IOException e) {
            // our own records in our own internal topic: a failure here is a bug or a foreign writer
            throw new SerializationException("cannot read the counted part of a usage event", e);
        }
    }

    private static void writeNumber(JsonGenerator json, String name, Long value) throws IOException {
        if (value != null) {
            json.writeNumberField(name, value);
        }
    }

    private static Cost readCost(JsonParser json) throws IOException {
        SortedMap<String, BigDecimal> amounts = new TreeMap<>();
        String currency;
        while ((currency = json.nextFieldName()) != null) {
            json.nextToken();
            amounts.put(currency, new BigDecimal(json.getValueAsString()));
        }
        return new Cost(amounts);
    }

    private static Long readLong(JsonParser json, JsonToken value) throws IOException {
        return value == JsonToken.VALUE_NULL ? null : json.getValueAsLong();
    }
}
