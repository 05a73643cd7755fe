package dev.tokentap.event;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import java.io.InputStream;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** The published JSON Schema agrees with the record, the golden events and what the codec writes. */
class UsageEventSchemaTest {

    static final String SCHEMA = "/dev/tokentap/event/usage-event.v1.schema.json";

    private final ObjectMapper json = new ObjectMapper();
    private final JsonSchema schema = loadSchema();

    private static JsonSchema loadSchema() {
        try (InputStream in = UsageEventSchemaTest.class.getResourceAsStream(SCHEMA)) {
            return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(in);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void shouldDescribeEveryFieldOfTheRecordAndNothingElse() throws Exception {
        Set<String> recordFields = Arrays.stream(UsageEvent.class.getRecordComponents())
                .map(c -> new PropertyNamingStrategies.SnakeCaseStrategy().translate(c.getName()))
                .collect(Collectors.toSet());
        JsonNode properties;
        try (InputStream in = getClass().getResourceAsStream(SCHEMA)) {
            properties = json.readTree(in).get("properties");
        }
        Set<String> schemaFields = new HashSet<>();
        properties.fieldNames().forEachRemaining(schemaFields::add);

        assertThat(schemaFields).isEqualTo(recordFields);
    }

    @ParameterizedTest
    @FieldSource("dev.tokentap.event.GoldenEvents#VALID")
    void shouldAcceptTheGoldenEvents(String name) throws Exception {
        assertThat(schema.validate(json.readTree(GoldenEvents.valid(name)))).isEmpty();
    }

    @ParameterizedTest
    @FieldSource("dev.tokentap.event.GoldenEvents#VALID")
    void shouldAcceptWhatTheCodecWrites(String name) throws Exception {
        UsageEventCodec codec = new UsageEventCodec();
        byte[] written = codec.encode(codec.decode(GoldenEvents.valid(name)));

        assertThat(schema.validate(json.readTree(written))).isEmpty();
    }

    @Test
    void shouldRejectAnEventWithoutItsIdempotencyKey() throws Exception {
        JsonNode missingId = json.readTree(GoldenEvents.invalid("missing-event-id.json"));

        assertThat(schema.validate(missingId)).isNotEmpty();
    }
}
