package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.proxy.usage.MeteredRoutes;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * vLLM's own bytes through the real proxy to the real broker, for both generations: each fixture's client request
 * goes through the proxy to an upstream replaying what vLLM answers ({@link VllmReplay}), which also checks that
 * what the proxy forwarded is the fixture's metered request as vLLM reads it. The client must receive exactly the
 * bytes vLLM sends its own request, and the published event must carry the fixture's usage. Each fixture runs
 * against a proxy told the generation and one left to tell it from the bytes; fixtures made with
 * {@code --enable-force-include-usage} against a proxy told so. Fixtures of a route join when the proxy meters it
 * with a stream policy ({@link MeteredRoutes#streamUsagePolicy}).
 */
@ExtendWith(KafkaExtension.class)
class VllmFixturesIT {

    private static final String TOPIC = "tokentap.usage.vllm-fixtures";
    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    private static TestKafka kafka;
    private static VllmReplay upstream;
    private static UsageLog log;
    private static final Map<String, TapProxy> PROXIES = new ConcurrentHashMap<>();

    @BeforeAll
    static void start(TestKafka testKafka) {
        kafka = testKafka;
        kafka.createTopic(TOPIC, 1);
        upstream = new VllmReplay();
        log = new UsageLog(kafka, TOPIC);
    }

    @AfterAll
    static void stop() {
        PROXIES.values().forEach(TapProxy::close);
        if (upstream != null) {
            upstream.close();
        }
        if (log != null) {
            log.close();
        }
    }

    static Stream<Arguments> fixtures() {
        return VllmFixtures.all()
                .filter(f -> MeteredRoutes.streamUsagePolicy(f.path()) != null)
                .flatMap(f -> Stream.of(Arguments.of(f, f.profile()), Arguments.of(f, "auto")));
    }

    private static TapProxy proxy(String generation, boolean force) {
        return PROXIES.computeIfAbsent(generation + "/" + force, key -> TapProxy.start(ProxyConfigs.loopback(
                upstream.baseUrl(), "--kafka", kafka.bootstrapServers(), "--topic", TOPIC,
                "--proxy-host", "proxy-vllm-fixtures", "--vllm-generation", generation,
                "--vllm-force-include-usage", String.valueOf(force))));
    }

    @ParameterizedTest(name = "{0} --vllm-generation {1}")
    @MethodSource("fixtures")
    void shouldGiveTheClientVllmsBytesAndPublishItsUsage(VllmFixtures.Fixture fixture, String generation) {
        // given
        TapProxy proxy = proxy(generation, fixture.forceIncludeUsage());
        String requestId = "vllm-fixture-" + SEQUENCE.incrementAndGet();
        HttpRequest.Builder request = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + proxy.port() + fixture.path()))
                .timeout(Duration.ofSeconds(20))
                .header("X-Request-Id", requestId)
                .header(VllmReplay.FIXTURE_HEADER, fixture.toString())
                .header("Content-Type", fixture.entry().get("request_content_type").asText())
                .POST(HttpRequest.BodyPublishers.ofByteArray(fixture.file("request")));

        // when
        HttpResponse<String> response = Http.send(request);

        // then
        assertThat(upstream.takeUnexpected()).as("requests the upstream did not expect").isEmpty();
        assertThat(response.statusCode()).isEqualTo(fixture.entry().get("status").asInt());
        assertThat(response.body()).as("the bytes vLLM sends this request")
                .isEqualTo(new String(fixture.file("response"), StandardCharsets.UTF_8));
        if (!fixture.usage().has("prompt_tokens")) {
            return;
        }
        UsageEvent event = log.awaitOne(requestId).value();
        assertThat(event.promptTokens()).isEqualTo(fixture.usage().get("prompt_tokens").asLong());
        assertThat(event.completionTokens()).isEqualTo(fixture.usage().get("completion_tokens").asLong());
        assertThat(event.totalTokens()).isEqualTo(fixture.usage().get("total_tokens").asLong());
        if (fixture.usage().has("cached_tokens")) {
            assertThat(event.cachedTokens()).isEqualTo(fixture.usage().get("cached_tokens").asLong());
        }
        assertThat(event.stream()).isEqualTo(fixture.metered());
    }
}
