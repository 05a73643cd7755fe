package dev.tokentap.event;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** The published JSON Schema agrees with the record, the golden events and what the codec writes. */
class UsageEventSchemaTest {

    static final String SCHEMA = "/dev/tokentap/event/usage-event.v1.schema.json";

    private final ObjectMapper json = new ObjectMapper();
    private final JsonSchema schema = JsonSchemas.load(SCHEMA);

    @Test
    void shouldDescribeEveryFieldOfTheRecordAndNothingElse() {
        assertThat(JsonSchemas.properties(SCHEMA)).isEqualTo(JsonSchemas.snakeCaseComponents(UsageEvent.class));
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

    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"prompt_tokens", "completion_tokens", "total_tokens",
            "cached_tokens", "reasoning_tokens", "audio_seconds"})
    void shouldRejectACountOutsideZeroToTheBound(String field) throws Exception {
        com.fasterxml.jackson.databind.node.ObjectNode event =
                (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(GoldenEvents.valid("completion-ok"));

        event.put(field, UsageEvent.MAX_USAGE);
        assertThat(schema.validate(event)).isEmpty();
        event.put(field, UsageEvent.MAX_USAGE + 1);
        assertThat(schema.validate(event)).isNotEmpty();
        event.put(field, -1);
        assertThat(schema.validate(event)).isNotEmpty();
    }
}
