package dev.tokentap.event;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class EnrichedUsageEventCodecTest {

    static final String GOLDEN = "/golden-enriched/chat-stream-ok-from-a-deployment.json";

    private final EnrichedUsageEventCodec codec = new EnrichedUsageEventCodec();
    private final ObjectMapper json = new ObjectMapper();

    @Test
    void shouldReadTheGoldenEnrichedEventAsTheEventPlusItsClient() throws IOException {
        EnrichedUsageEvent enriched = codec.decode(golden());

        assertThat(enriched.event()).isEqualTo(new UsageEventCodec().decode(GoldenEvents.valid("chat-stream-ok")));
        ClientIdentity client = enriched.client();
        assertThat(client.namespace()).isEqualTo("search");
        assertThat(client.pod()).isEqualTo("ranker-7d9f8b6c5d-x2x7q");
        assertThat(client.workloadKind()).isEqualTo("Deployment");
        assertThat(client.workload()).isEqualTo("ranker");
        assertThat(client.serviceAccount()).isEqualTo("ranker");
        assertThat(client.node()).isEqualTo("gpu-node-3");
        assertThat(client.labels()).containsExactly(java.util.Map.entry("app", "ranker"),
                java.util.Map.entry("team", "search"));
        assertThat(client.apiKeyAlias()).isEqualTo("search-prod");
        assertThat(client.clientName()).isEqualTo("team-search");
        assertThat(client.clientNameSource()).isEqualTo(ClientIdentity.SOURCE_TENANT);
    }

    @Test
    void shouldWriteExactlyTheGoldenShape() throws IOException {
        byte[] written = codec.encode(codec.decode(golden()));

        assertThat(json.readTree(written)).isEqualTo(json.readTree(golden()));
    }

    @Test
    void shouldWriteTheEventBytesAsTheUsageCodecDoesThenTheClient() throws IOException {
        // the reference: the event as UsageEventCodec writes it, with the client object appended
        ObjectMapper contract = UsageEventCodec.newMapper();
        TreeMap<String, String> labels = new TreeMap<>(java.util.Map.of("team", "search", "app", "r\u00e4nker\"q"));
        for (String name : GoldenEvents.VALID) {
            UsageEvent event = new UsageEventCodec().decode(GoldenEvents.valid(name));
            for (ClientIdentity client : java.util.List.of(
                    new ClientIdentity("search", "ranker-1", "Deployment", "ranker", "ranker", "node-1", labels,
                            "search-prod", "team-search", ClientIdentity.SOURCE_TENANT),
                    new ClientIdentity(null, null, null, null, null, null, null, null, "10.0.0.7",
                            ClientIdentity.SOURCE_ADDRESS))) {
                ObjectNode expected = (ObjectNode) contract.readTree(new UsageEventCodec().encode(event));
                expected.set(EnrichedUsageEvent.CLIENT_FIELD, contract.valueToTree(client));

                byte[] written = codec.encode(new EnrichedUsageEvent(event, client));

                assertThat(new String(written, java.nio.charset.StandardCharsets.UTF_8)).as(name)
                        .isEqualTo(new String(contract.writeValueAsBytes(expected),
                                java.nio.charset.StandardCharsets.UTF_8));
            }
        }
    }

    @Test
    void shouldWriteTheCostLastAsExactDecimalStringsAndReadItBack() throws IOException {
        EnrichedUsageEvent plain = codec.decode(golden());
        EnrichedUsageEvent priced = new EnrichedUsageEvent(plain.event(), plain.client(),
                Cost.of("USD", new java.math.BigDecimal("0.00007120")));

        byte[] written = codec.encode(priced);

        String text = new String(written, java.nio.charset.StandardCharsets.UTF_8);
        assertThat(text).endsWith("\"client_name_source\":\"tenant\"},\"cost\":{\"USD\":\"0.0000712\"}}");
        assertThat(codec.decode(written).cost().amount("USD")).isEqualByComparingTo("0.0000712");
        assertThat(JsonSchemas.load("/dev/tokentap/event/cost.v1.schema.json")
                .validate(json.readTree(written).get("cost"))).isEmpty();
        assertThat(new String(codec.encode(plain), java.nio.charset.StandardCharsets.UTF_8)).doesNotContain("cost");
    }

    @Test
    void shouldStayReadableAsAPlainUsageEvent() throws IOException {
        assertThat(new UsageEventCodec().decode(golden()))
                .isEqualTo(new UsageEventCodec().decode(GoldenEvents.valid("chat-stream-ok")));
    }

    @Test
    void shouldLeaveOutAbsentSignalsAndCallANamespacelessCallerUnknown() throws IOException {
        UsageEvent event = new UsageEventCodec().decode(GoldenEvents.valid("completion-ok"));
        ClientIdentity byAddress = new ClientIdentity(null, null, null, null, null, null, new TreeMap<>(), null,
                event.clientAddress(), ClientIdentity.SOURCE_ADDRESS);

        JsonNode client = json.readTree(codec.encode(new EnrichedUsageEvent(event, byAddress))).get("client");

        assertThat(client.toString()).isEqualTo("{\"namespace\":\"unknown\",\"client_name\":\""
                + event.clientAddress() + "\",\"client_name_source\":\"address\"}");
    }

    @Test
    void shouldRejectAnEventWithoutClient() {
        assertThatThrownBy(() -> codec.decode(GoldenEvents.valid("chat-stream-ok")))
                .isInstanceOfSatisfying(UsageEventDecodeException.class,
                        e -> assertThat(e.reason()).isEqualTo(UsageEventDecodeException.MISSING_FIELD));
    }

    private static byte[] golden() throws IOException {
        try (InputStream in = EnrichedUsageEventCodecTest.class.getResourceAsStream(GOLDEN)) {
            assertThat(in).as(GOLDEN).isNotNull();
            return in.readAllBytes();
        }
    }
}
