package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import dev.tokentap.event.UsageEvent;
import java.io.IOException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The value serde of the repartition topic: of each event only what {@link UsageTotals#add} reads (outcome, token
 * counts, timestamps, stream), under the event's own JSON names. The labels travel in the key, so the rest of the
 * event would only be written, fetched and parsed again for nothing.
 *
 * <p>It reads any JSON object with those names and skips the others, so a repartition topic that still holds whole
 * events (written by a version that sent them) is read the same way.
 */
final class CountedUsageSerde implements Serde<UsageEvent> {

    static final String OUTCOME = "outcome";
    static final String STARTED_AT = "started_at";
    static final String FIRST_BYTE_AT = "first_byte_at";
    static final String ENDED_AT = "ended_at";
    static final String STREAM = "stream";
    static final String PROMPT_TOKENS = "prompt_tokens";
    static final String COMPLETION_TOKENS = "completion_tokens";
    static final String TOTAL_TOKENS = "total_tokens";
    static final String CACHED_TOKENS = "cached_tokens";

    private static final JsonFactory JSON = new JsonFactory();

    @Override
    public Serializer<UsageEvent> serializer() {
        return (topic, event) -> event == null ? null : write(event);
    }

    @Override
    public Deserializer<UsageEvent> deserializer() {
        return (topic, bytes) -> bytes == null ? null : read(bytes);
    }

    static byte[] write(UsageEvent event) {
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
                json.writeEndObject();
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new SerializationException("cannot write the counted part of a usage event", e);
        }
    }

    static UsageEvent read(byte[] bytes) {
        UsageEvent.Builder event = UsageEvent.builder();
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
                    default -> json.skipChildren();
                }
            }
            return event.build();
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

    private static Long readLong(JsonParser json, JsonToken value) throws IOException {
        return value == JsonToken.VALUE_NULL ? null : json.getValueAsLong();
    }
}
