package dev.tokentap.event;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Serde;

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
        CloudEventHeaders.write(headers, record.recordId(), SOURCE_PREFIX + applicationId, CE_TYPE, record.closedAt());
    }

    /** A Kafka serde over this codec; the deserializer throws {@link SerializationException} on a bad record. */
    public static Serde<HourlyUsage> serde() {
        HourlyUsageCodec codec = new HourlyUsageCodec();
        return CodecSerde.of(codec::encode, codec::decode);
    }
}
