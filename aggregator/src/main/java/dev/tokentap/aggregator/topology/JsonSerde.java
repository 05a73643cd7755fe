package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * JSON serde for the aggregator's own keys and values. Output is deterministic for a given value (fixed property
 * order, sorted map keys), which matters for keys: their bytes pick the partition and the store entry.
 */
public final class JsonSerde {

    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .build();

    private JsonSerde() {
    }

    /** The serde of the totals store's key (and the repartition topic's key). */
    public static Serde<UsageLabels> labels() {
        return of(UsageLabels.class);
    }

    /** The serde of the totals store's value. */
    public static Serde<UsageTotals> totals() {
        return of(UsageTotals.class);
    }

    static <T> Serde<T> of(Class<T> type) {
        Serializer<T> serializer = (topic, data) -> data == null ? null : write(data);
        Deserializer<T> deserializer = (topic, bytes) -> bytes == null ? null : read(bytes, type);
        return Serdes.serdeFrom(serializer, deserializer);
    }

    static byte[] write(Object value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new SerializationException("cannot write " + value.getClass().getSimpleName(), e);
        }
    }

    static <T> T read(byte[] bytes, Class<T> type) {
        try {
            return MAPPER.readValue(bytes, type);
        } catch (IOException e) {
            // our own records in our own internal topics: a failure here is a bug or a foreign writer
            throw new SerializationException("cannot read " + type.getSimpleName(), e);
        }
    }
}
