package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every golden fixture under {@code src/test/resources/fixtures} (listed in {@code index.txt}) through the real
 * proxy to the simulator and the real broker: the client must receive exactly the golden response (the bytes vLLM
 * would have sent it directly, {@code created} pinned to 0), and the usage event must carry the fixture's expected
 * fields, or there must be no event at all when the fixture expects none.
 *
 * <p>Each fixture is {@code <name>.request.json} (method, path, body or multipart form, headers, an optional setup
 * request sent to the simulator first, and {@code expect}: event fields by their JSON names) and
 * {@code <name>.response} (the golden bytes; {@code {request_id}} stands for the fixture's request id). Run with
 * {@code -Dtokentap.fixtures.write=src/test/resources/fixtures} to rewrite the golden responses from the simulator.
 */
@ExtendWith(KafkaExtension.class)
class GoldenFixturesIT {

    private static final String TOPIC = "tokentap.usage.fixtures";
    private static final String BOUNDARY = "tokentap-fixture-boundary";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final UsageEventCodec CODEC = new UsageEventCodec();

    private static VllmSimulator simulator;
    private static TapProxy proxy;
    private static UsageLog log;

    @BeforeAll
    static void start(TestKafka kafka) {
        kafka.createTopic(TOPIC, 1);
        simulator = VllmSimulator.builder().cachedTokens(3).build().start();
        proxy = TapProxy.start(ProxyConfigs.loopback(simulator.baseUrl(), "--kafka", kafka.bootstrapServers(),
                "--topic", TOPIC, "--proxy-host", "proxy-fixtures"));
        log = new UsageLog(kafka, TOPIC);
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (simulator != null) {
            simulator.close();
        }
        if (log != null) {
            log.close();
        }
    }

    static List<String> fixtures() {
        return text("/fixtures/index.txt").lines().filter(l -> !l.isBlank()).toList();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void shouldPassTheGoldenBytesAndPublishTheExpectedEvent(String name) throws Exception {
        JsonNode fixture = JSON.readTree(text("/fixtures/" + name + ".request.json"));
        String requestId = "golden-" + name;
        if (fixture.has("setup")) {
            HttpResponse<String> setup = send(simulator.baseUrl(), fixture.get("setup"), requestId);
            assertThat(setup.statusCode()).isEqualTo(200);
        }

        HttpResponse<String> response = send("http://127.0.0.1:" + proxy.port(), fixture, requestId);
        // the upstream's router does not normalise paths: the proxy does, so the direct request uses the normal one
        JsonNode directFixture = fixture.has("direct_path")
                ? ((com.fasterxml.jackson.databind.node.ObjectNode) fixture.deepCopy()).put("path",
                        fixture.get("direct_path").asText())
                : fixture;
        HttpResponse<String> direct = send(simulator.baseUrl(), directFixture, requestId);

        String received = pinned(response.body());
        assertThat(received).as("the proxy's bytes are the upstream's").isEqualTo(pinned(direct.body()));
        String golden = "/fixtures/" + name + ".response";
        String write = System.getProperty("tokentap.fixtures.write");
        if (write != null) {
            Files.writeString(Path.of(write, name + ".response"), received.replace(requestId, "{request_id}"));
        } else {
            assertThat(received).as("golden response").isEqualTo(text(golden).replace("{request_id}", requestId));
        }

        JsonNode expect = fixture.get("expect");
        if (expect == null || expect.isNull()) {
            assertThat(log.records()).noneMatch(r -> requestId.equals(r.value().requestId()));
            return;
        }
        UsageEvent event = log.awaitOne(requestId).value();
        JsonNode written = JSON.readTree(CODEC.encode(event));
        for (Iterator<Map.Entry<String, JsonNode>> it = expect.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            JsonNode expected = field.getValue().isTextual()
                    ? JSON.getNodeFactory().textNode(field.getValue().asText().replace("{request_id}", requestId))
                    : field.getValue();
            JsonNode actual = written.path(field.getKey());
            if (expected.isNull()) {
                assertThat(actual.isMissingNode() || actual.isNull()).as(field.getKey()).isTrue();
            } else if (expected.isNumber() && actual.isNumber()) {
                assertThat(actual.decimalValue().compareTo(expected.decimalValue())).as(field.getKey()).isZero();
            } else {
                assertThat(actual).as(field.getKey()).isEqualTo(expected);
            }
        }
        assertThat(event.endedAt()).isGreaterThanOrEqualTo(event.startedAt());
    }

    private static HttpResponse<String> send(String base, JsonNode fixture, String requestId) {
        String path = fixture.get("path").asText().replace("{request_id}", requestId);
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofSeconds(20))
                .header("X-Request-Id", requestId);
        fixture.path("headers").fields().forEachRemaining(h -> request.header(h.getKey(), h.getValue().asText()));
        String method = fixture.get("method").asText();
        if (fixture.has("multipart")) {
            request.header("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                    .method(method, HttpRequest.BodyPublishers.ofByteArray(multipart(fixture.get("multipart"))));
        } else if (fixture.has("body")) {
            request.header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofString(fixture.get("body").toString()));
        } else {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        return Http.send(request);
    }

    /** A multipart form as OpenAI's clients send it: the fields, then a silent WAV-ish file of the given size. */
    private static byte[] multipart(JsonNode form) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        form.path("fields").fields().forEachRemaining(f -> out.writeBytes(("--" + BOUNDARY
                + "\r\nContent-Disposition: form-data; name=\"" + f.getKey() + "\"\r\n\r\n" + f.getValue().asText()
                + "\r\n").getBytes(StandardCharsets.UTF_8)));
        out.writeBytes(("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\""
                + "\r\nContent-Type: audio/wav\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        out.writeBytes(new byte[form.get("file_bytes").asInt()]);
        out.writeBytes(("\r\n--" + BOUNDARY + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    /** Pins what differs from run to run: the creation times. */
    private static String pinned(String body) {
        return body.replaceAll("\"created\":\\d+", "\"created\":0").replaceAll("\"created_at\":\\d+",
                "\"created_at\":0");
    }

    private static String text(String resource) {
        try (InputStream in = GoldenFixturesIT.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no fixture " + resource);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
