package dev.tokentap.event;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SpecVersion;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

/** The hourly record: the golden examples, the codec's exact numbers, the published schema and the headers. */
class HourlyUsageCodecTest {

    static final String SCHEMA = "/dev/tokentap/event/hourly-usage.v1.schema.json";

    private final HourlyUsageCodec codec = new HourlyUsageCodec();
    private final ObjectMapper json = new ObjectMapper();
    private final JsonSchema schema = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012,
                    builder -> builder.schemaMappers(m -> m.mapPrefix("https://tokentap.dev/schemas/",
                            "classpath:dev/tokentap/event/")))
            .getSchema(SchemaLocation.of("https://tokentap.dev/schemas/hourly-usage.v1.schema.json"));

    @Test
    void shouldReadTheGoldenRecordsAndWriteExactlyTheirShape() throws IOException {
        for (String name : new String[] {"final", "late"}) {
            byte[] golden = golden(name);

            HourlyUsage record = codec.decode(golden);

            assertThat(json.readTree(codec.encode(record))).as(name).isEqualTo(json.readTree(golden));
            assertThat(schema.validate(json.readTree(golden))).as(name).isEmpty();
        }
        HourlyUsage late = codec.decode(golden("late"));
        assertThat(late.kind()).isEqualTo(HourlyUsage.LATE);
        assertThat(late.audioSeconds()).isEqualTo(new BigDecimal("75.35"));
        assertThat(late.cost().amount("USD")).isEqualTo(new BigDecimal("0.007535"));
    }

    @Test
    void shouldDescribeEveryFieldOfTheRecordAndNothingElse() {
        assertThat(JsonSchemas.properties(SCHEMA)).isEqualTo(JsonSchemas.snakeCaseComponents(HourlyUsage.class));
    }

    @Test
    void shouldKeepDecimalsExactThatABinaryFloatWouldNot() throws IOException {
        // 0.1 + 0.2 and a cost of 29 significant digits: a double would change both
        HourlyUsage record = new HourlyUsage(1, "id", HourlyUsage.FINAL, 0, 3_600_000, "ns", "c", "m", "/r",
                new TreeMap<>(Map.of("ok", 1L)), 1, 2, 3, 0, 0, new BigDecimal("0.3"),
                Cost.of("EUR", new BigDecimal("12345678901234567.000000000001")), 0, 10L, 20L, 30);

        byte[] written = codec.encode(record);

        String text = new String(written, StandardCharsets.UTF_8);
        assertThat(text).contains("\"audio_seconds\":0.3").contains("\"cost\":{\"EUR\":\"12345678901234567.000000000001\"}");
        assertThat(codec.decode(written)).isEqualTo(record);
        assertThat(schema.validate(json.readTree(written))).isEmpty();
    }

    @Test
    void shouldLeaveOutTheCostOfRequestsWithoutPrice() {
        HourlyUsage record = new HourlyUsage(1, "id", HourlyUsage.FINAL, 0, 3_600_000, "ns", "c", "m", "/r",
                null, 0, 0, 0, 0, 0, null, Cost.NONE, 4, null, null, 30);

        assertThat(new String(codec.encode(record), StandardCharsets.UTF_8)).doesNotContain("cost")
                .contains("\"unpriced_requests\":4");
    }

    @Test
    void shouldWriteItsOwnCloudEventsType() throws IOException {
        HourlyUsage record = codec.decode(golden("final"));
        RecordHeaders headers = new RecordHeaders();

        HourlyUsageCodec.writeHeaders(record, "tokentap-aggregator", headers);

        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.TYPE)).isEqualTo("dev.tokentap.usage.hourly.v1");
        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.ID)).isEqualTo(record.recordId());
        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.SOURCE))
                .isEqualTo("tokentap/aggregator/tokentap-aggregator");
        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.TIME)).isEqualTo("2026-03-01T11:10:00.046Z");
        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.SPEC_VERSION)).isEqualTo("1.0");
    }

    @Test
    void shouldRejectARecordOfANewerMajorVersion() {
        assertThatThrownBy(() -> codec.decode("{\"schema_version\":2,\"record_id\":\"x\",\"kind\":\"final\",\"client_name\":\"c\"}"
                .getBytes(StandardCharsets.UTF_8)))
                .isInstanceOfSatisfying(UsageEventDecodeException.class,
                        e -> assertThat(e.reason()).isEqualTo(UsageEventDecodeException.UNSUPPORTED_VERSION));
    }

    private static byte[] golden(String name) throws IOException {
        try (InputStream in = HourlyUsageCodecTest.class.getResourceAsStream("/golden-hourly/" + name + ".json")) {
            return in.readAllBytes();
        }
    }
}
