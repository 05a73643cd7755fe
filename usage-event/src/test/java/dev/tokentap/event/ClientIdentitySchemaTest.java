package dev.tokentap.event;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import java.io.InputStream;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The client object's published schema agrees with the record, the golden enriched event and the codec. */
class ClientIdentitySchemaTest {

    static final String SCHEMA = "/dev/tokentap/event/client-identity.v1.schema.json";

    private final ObjectMapper json = new ObjectMapper();
    private final JsonSchema schema = JsonSchemas.load(SCHEMA);

    @Test
    void shouldDescribeEveryFieldOfTheRecordAndNothingElse() {
        assertThat(JsonSchemas.properties(SCHEMA)).isEqualTo(JsonSchemas.snakeCaseComponents(ClientIdentity.class));
    }

    @Test
    void shouldAcceptTheGoldenEnrichedEventsClient() throws Exception {
        try (InputStream in = getClass().getResourceAsStream(EnrichedUsageEventCodecTest.GOLDEN)) {
            assertThat(schema.validate(json.readTree(in).get("client"))).isEmpty();
        }
    }

    @Test
    void shouldAcceptWhatTheCodecWritesForACallerWithoutPod() throws Exception {
        UsageEvent event = new UsageEventCodec().decode(GoldenEvents.valid("completion-ok"));
        ClientIdentity byAddress = new ClientIdentity(null, null, null, null, null, null, new TreeMap<>(), null,
                event.clientAddress(), ClientIdentity.SOURCE_ADDRESS);

        JsonNode written = json.readTree(new EnrichedUsageEventCodec().encode(new EnrichedUsageEvent(event, byAddress)));

        assertThat(schema.validate(written.get("client"))).isEmpty();
    }
}
