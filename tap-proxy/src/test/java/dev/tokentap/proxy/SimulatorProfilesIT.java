package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokentap.testkit.sim.VllmProfile;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The simulator's profiles against vLLM's own bytes: for each chat and completions stream fixture, the simulator of
 * the fixture's generation, sent the fixture's request, must answer with chunks of the very shapes vLLM's are (the
 * same members in the same order, the same nulls, the same kinds of value); only the values the fixtures call
 * scenario values (ids, texts, counts, the fingerprint's text) may differ.
 */
class SimulatorProfilesIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Made with server flags or faults the simulator has no switch for. */
    private static final Set<String> NOT_SIMULATED = Set.of("chat-stream-cached", "chat-stream-force-include-usage",
            "chat-stream-force-include-usage-false", "chat-stream-fingerprint-none", "chat-stream-error-after-200",
            "completion-stream-error-after-200", "chat-stream-beam-search", "completion-stream-beam-search");

    private static VllmSimulator current;
    private static VllmSimulator legacy;

    @BeforeAll
    static void start() {
        current = VllmSimulator.builder().models(java.util.List.of("Qwen/Qwen2.5-1.5B-Instruct")).build().start();
        legacy = VllmSimulator.builder().models(java.util.List.of("Qwen/Qwen2.5-1.5B-Instruct"))
                .vllmProfile(VllmProfile.LEGACY).build().start();
    }

    @AfterAll
    static void stop() {
        current.close();
        legacy.close();
    }

    static Stream<VllmFixtures.Fixture> streams() {
        return VllmFixtures.all().filter(f -> f.metered() && !NOT_SIMULATED.contains(f.name())
                && (f.path().equals("/v1/chat/completions") || f.path().equals("/v1/completions")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("streams")
    void shouldStreamTheShapesVllmStreams(VllmFixtures.Fixture fixture) throws IOException {
        VllmSimulator simulator = fixture.profile().equals("legacy") ? legacy : current;
        ObjectNode request = (ObjectNode) JSON.readTree(fixture.file("request"));
        // the fixtures' prompt models a real tokenizer; the simulator's words-as-tokens need only fit its context
        request.put("max_tokens", 6);

        HttpResponse<String> response = Http.send(Http.post(simulator.baseUrl(), fixture.path(), request.toString()));

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(shapes(response.body())).isEqualTo(shapes(new String(fixture.file("response"),
                StandardCharsets.UTF_8)));
    }

    /** The distinct shapes of a stream's events. */
    private static Set<String> shapes(String sse) {
        Set<String> shapes = new TreeSet<>();
        for (String event : sse.split("\n\n")) {
            if (!event.startsWith("data: ")) {
                continue;
            }
            String data = event.substring(6);
            if (data.equals("[DONE]")) {
                shapes.add("[DONE]");
                continue;
            }
            try {
                shapes.add(shape(JSON.readTree(data)));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return shapes;
    }

    private static String shape(JsonNode node) {
        if (node.isObject()) {
            StringBuilder shape = new StringBuilder("{");
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> member = it.next();
                shape.append(member.getKey()).append(':').append(shape(member.getValue()));
                if (it.hasNext()) {
                    shape.append(',');
                }
            }
            return shape.append('}').toString();
        }
        if (node.isArray()) {
            Set<String> elements = new TreeSet<>();
            node.forEach(element -> elements.add(shape(element)));
            return elements.toString();
        }
        return node.isNull() ? "null" : node.isTextual() ? "string" : node.isNumber() ? "number" : "boolean";
    }
}
