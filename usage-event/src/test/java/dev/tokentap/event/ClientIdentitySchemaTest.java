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
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The client object's published schema agrees with the record, the golden enriched event and the codec. */
class ClientIdentitySchemaTest {

    static final String SCHEMA = "/dev/tokentap/event/client-identity.v1.schema.json";

    private final ObjectMapper json = new ObjectMapper();
    private final JsonSchema schema = loadSchema();

    private static JsonSchema loadSchema() {
        try (InputStream in = ClientIdentitySchemaTest.class.getResourceAsStream(SCHEMA)) {
            return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(in);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void shouldDescribeEveryFieldOfTheRecordAndNothingElse() throws Exception {
        Set<String> recordFields = Arrays.stream(ClientIdentity.class.getRecordComponents())
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
