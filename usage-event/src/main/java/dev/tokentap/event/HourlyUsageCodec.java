package dev.tokentap.event;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Reads and writes {@link HourlyUsage} JSON, and its CloudEvents headers. Numbers are exact: {@code audio_seconds} is
 * written as the plain decimal it is and read without going through a binary float; costs are decimal strings.
 * Thread-safe; share one instance.
 */
public final class HourlyUsageCodec {

    /** {@code ce_type} of an hourly record, final or late. */
    public static final String CE_TYPE = "dev.tokentap.usage.hourly.v1";
    /** {@code ce_source} of an hourly record: this prefix, then the aggregator's application id. */
    public static final String SOURCE_PREFIX = "tokentap/aggregator/";

    private static final ObjectMapper MAPPER = UsageEventCodec.newMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(JsonGenerator.Feature.WRITE_BIGDECIMAL_AS_PLAIN);

    /** The record as UTF-8 JSON. */
    public byte[] encode(HourlyUsage record) {
        try {
            return MAPPER.writeValueAsBytes(record);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The record in {@code json}.
     *
     * @throws UsageEventDecodeException when it is not an hourly record this version reads
     */
    public HourlyUsage decode(byte[] json) {
        if (json == null || json.length == 0) {
            throw new UsageEventDecodeException(UsageEventDecodeException.EMPTY, "empty record value");
        }
        HourlyUsage record;
        try {
            record = MAPPER.readValue(json, HourlyUsage.class);
        } catch (IOException e) {
            throw new UsageEventDecodeException(UsageEventDecodeException.MALFORMED,
                    "not an hourly usage record: " + e.getMessage(), e);
        }
        if (record == null || record.schemaVersion() < 1 || record.schemaVersion() > HourlyUsage.SCHEMA_VERSION) {
            throw new UsageEventDecodeException(UsageEventDecodeException.UNSUPPORTED_VERSION,
                    "unsupported hourly schema_version " + (record == null ? null : record.schemaVersion()));
        }
        if (record.recordId() == null || record.clientName() == null || record.kind() == null) {
            throw new UsageEventDecodeException(UsageEventDecodeException.MISSING_FIELD,
                    "hourly usage record lacks record_id, client_name or kind");
        }
        return record;
    }

    /** Replaces the CloudEvents headers on {@code headers} with the ones of {@code record}. */
    public static void writeHeaders(HourlyUsage record, String applicationId, Headers headers) {
        set(headers, CloudEventHeaders.SPEC_VERSION, CloudEventHeaders.SPEC_VERSION_VALUE);
        set(headers, CloudEventHeaders.ID, record.recordId());
        set(headers, CloudEventHeaders.SOURCE, SOURCE_PREFIX + applicationId);
        set(headers, CloudEventHeaders.TYPE, CE_TYPE);
        set(headers, CloudEventHeaders.TIME, Instant.ofEpochMilli(record.closedAt()).toString());
        set(headers, CloudEventHeaders.CONTENT_TYPE, CloudEventHeaders.CONTENT_TYPE_VALUE);
    }

    private static void set(Headers headers, String key, String value) {
        headers.remove(key);
        headers.add(key, value.getBytes(StandardCharsets.UTF_8));
    }

    /** A Kafka serde over this codec; the deserializer throws {@link SerializationException} on a bad record. */
    public static Serde<HourlyUsage> serde() {
        HourlyUsageCodec codec = new HourlyUsageCodec();
        Serializer<HourlyUsage> serializer = (topic, data) -> data == null ? null : codec.encode(data);
        Deserializer<HourlyUsage> deserializer = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            try {
                return codec.decode(bytes);
            } catch (UsageEventDecodeException e) {
                throw new SerializationException(e.getMessage(), e);
            }
        };
        return Serdes.serdeFrom(serializer, deserializer);
    }
}
