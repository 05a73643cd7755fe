package dev.tokentap.aggregator.topology;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tokentap.event.UsageEvent;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class UsageLabelsTest {

    @Test
    void shouldGiveEveryMeteredRouteALabelOfItsOwnAndAnyOtherPathOther() {
        for (String route : dev.tokentap.event.Routes.METERED) {
            UsageEvent event = UsageEvent.builder().eventId("e").route(route).outcome("ok").clientAddress("10.0.0.1")
                    .proxyHost("p").model("m").build();

            assertThat(UsageLabels.withoutKubernetes(event).fullPath()).isEqualTo(route);
        }
        for (String route : List.of("/v1/messages", "/v2/embed", "/inference/v1/generate", "/generative_scoring",
                "/v1/chat/completions/batch")) {
            assertThat(dev.tokentap.event.Routes.METERED).contains(route);
        }
        UsageEvent unknown = UsageEvent.builder().eventId("e").route("/v1/secret/" + "x".repeat(300)).outcome("ok")
                .clientAddress("10.0.0.1").proxyHost("p").model("m").build();
        assertThat(UsageLabels.withoutKubernetes(unknown).fullPath()).isEqualTo("other");
    }

    @Test
    void shouldCutLongLabelValues() {
        String huge = "m".repeat(10_000);
        UsageEvent event = UsageEvent.builder().eventId("e").route("/v1/completions").outcome("ok")
                .clientAddress(huge).proxyHost(huge).model(huge).build();

        UsageLabels labels = UsageLabels.withoutKubernetes(event);

        assertThat(labels.clientName()).hasSize(UsageLabels.MAX_VALUE_LENGTH);
        assertThat(labels.hostname()).hasSize(UsageLabels.MAX_VALUE_LENGTH);
        assertThat(labels.model()).hasSize(UsageLabels.MAX_VALUE_LENGTH);
    }

    @Test
    void shouldEncodeTheSameLabelsToTheSameBytesInAFixedOrder() {
        UsageLabels labels = new UsageLabels("unknown", "10.0.0.1", "/v1/completions", "proxy-a", "llama");

        byte[] bytes = JsonSerde.labels().serializer().serialize("t", labels);

        assertThat(new String(bytes, StandardCharsets.UTF_8)).isEqualTo("{\"namespace\":\"unknown\","
                + "\"client_name\":\"10.0.0.1\",\"full_path\":\"/v1/completions\",\"hostname\":\"proxy-a\","
                + "\"model\":\"llama\"}");
        assertThat(JsonSerde.labels().serializer().serialize("t",
                new UsageLabels("unknown", "10.0.0.1", "/v1/completions", "proxy-a", "llama"))).isEqualTo(bytes);
        assertThat(JsonSerde.labels().deserializer().deserialize("t", bytes)).isEqualTo(labels);
    }

    @Test
    void shouldWriteAndReadTheBytesDataBindingWroteBefore() throws Exception {
        // the stores and the repartition topic hold what the data-binding serde wrote: keep every byte
        ObjectMapper binding = JsonMapper.builder().enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS).build();
        UsageEvent stream = UsageEvent.builder().eventId("1").route("/r").outcome("ok").stream(true)
                .startedAt(1_000L).firstByteAt(1_040L).endedAt(3_500L).promptTokens(3L).completionTokens(9L)
                .cachedTokens(2L).build();
        UsageEvent odd = UsageEvent.builder().eventId("2").route("/r").outcome("not-yet-known")
                .startedAt(1_000L).endedAt(900_000L).totalTokens(Long.MAX_VALUE / 4).build();
        List<UsageTotals> totals = List.of(UsageTotals.EMPTY, UsageTotals.EMPTY.add(stream),
                UsageTotals.EMPTY.add(stream).add(odd).add(stream));
        List<UsageLabels> labels = List.of(new UsageLabels("unknown", "10.0.0.1", "/v1/completions", "proxy-a",
                        "llama"),
                new UsageLabels("ns", "t\u00e9am \"q\" \\ \n\u0001 \u20ac\uD83D\uDE00", "other", null, "m/1:2"));

        for (UsageTotals t : totals) {
            // what data binding wrote before reasoning tokens, audio seconds and cost were kept: those are written
            // only when they are not zero, so totals without them keep their bytes
            com.fasterxml.jackson.databind.node.ObjectNode tree = binding.valueToTree(t);
            tree.remove(List.of("reasoning_tokens", "audio_seconds", "cost", "unpriced"));
            byte[] bound = binding.writeValueAsBytes(tree);
            assertThat(JsonSerde.totals().serializer().serialize("t", t)).as(new String(bound, StandardCharsets.UTF_8))
                    .isEqualTo(bound);
            assertThat(JsonSerde.totals().deserializer().deserialize("t", bound)).isEqualTo(t);
        }
        for (UsageLabels l : labels) {
            byte[] bound = binding.writeValueAsBytes(l);
            assertThat(JsonSerde.labels().serializer().serialize("t", l)).as(new String(bound, StandardCharsets.UTF_8))
                    .isEqualTo(bound);
            assertThat(JsonSerde.labels().deserializer().deserialize("t", bound)).isEqualTo(l);
        }
    }

    @Test
    void shouldRoundTripTotalsWithSortedOutcomes() {
        UsageTotals totals = UsageTotals.EMPTY
                .add(UsageEvent.builder().eventId("1").route("/r").outcome("upstream_error").promptTokens(3L).build())
                .add(UsageEvent.builder().eventId("2").route("/r").outcome("ok").promptTokens(4L).build());

        byte[] bytes = JsonSerde.totals().serializer().serialize("t", totals);

        assertThat(new String(bytes, StandardCharsets.UTF_8)).isEqualTo("{\"prompt_tokens\":7,\"completion_tokens\":0,"
                + "\"total_tokens\":7,\"cached_tokens\":0,\"requests\":{\"ok\":1,\"upstream_error\":1},"
                + "\"duration\":{\"counts\":[],\"sum_ms\":0},\"ttft\":{\"counts\":[],\"sum_ms\":0}}");
        assertThat(JsonSerde.totals().deserializer().deserialize("t", bytes)).isEqualTo(totals);
    }

    @Test
    void shouldReadTotalsStoredBeforeTheHistogramsExisted() {
        byte[] old = ("{\"prompt_tokens\":7,\"completion_tokens\":0,\"total_tokens\":7,\"cached_tokens\":0,"
                + "\"requests\":{\"ok\":1}}").getBytes(StandardCharsets.UTF_8);

        UsageTotals totals = JsonSerde.totals().deserializer().deserialize("t", old);

        assertThat(totals.promptTokens()).isEqualTo(7);
        assertThat(totals.duration()).isEqualTo(LatencyHistogram.EMPTY);
        assertThat(totals.add(UsageEvent.builder().eventId("1").route("/r").outcome("ok").startedAt(0L)
                .endedAt(70L).build()).duration().count(1)).isEqualTo(1);
    }
}
