package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.testkit.sim.EventStreamReader;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Streams reach the client event by event, as the upstream produces them, not gathered up. The upstream sends each
 * step only when the test releases it, so an event that reaches the client before the next one is released cannot
 * have been merged with it or held back for more data, however busy the machine.
 */
class StreamingTimingIT {

    private static final int TOKENS = 8;
    /** How long a released event may take through the proxy; only one held back for more data takes longer. */
    private static final Duration EVENT_WAIT = Duration.ofSeconds(10);

    private static VllmSimulator simulator;
    private static TapProxy proxy;

    @BeforeAll
    static void start() {
        simulator = VllmSimulator.builder().stepByStep(true).build().start();
        proxy = TapProxy.start(ProxyConfigs.loopback(simulator.baseUrl(), "--proxy-host", "timing-it",
                "--api-key-hash-secret", "x"), new RecordingPublisher(), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    }

    @AfterAll
    static void stop() {
        // the simulator first: a stream a failed test left open is then cut, not waited for by the proxy's drain
        if (simulator != null) {
            simulator.close();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void shouldDeliverEachStreamedEventAsItArrivesWhenStripping() throws Exception {
        // the client asked for no usage: the proxy asks for it and strips it again
        assertDeliveredOneByOne("/v1/chat/completions", "chatcmpl-", "{\"model\":\"tokentap/sim-1b\","
                + "\"stream\":true,\"max_tokens\":" + TOKENS + ",\"messages\":[{\"role\":\"user\",\"content\":\"count\"}]}");
    }

    @Test
    void shouldDeliverEachStreamedEventAsItArrivesWhenObserving() throws Exception {
        assertDeliveredOneByOne("/v1/completions", "cmpl-", "{\"model\":\"tokentap/sim-1b\",\"stream\":true,"
                + "\"stream_options\":{},\"max_tokens\":" + TOKENS + ",\"prompt\":\"count\"}");
    }

    private static void assertDeliveredOneByOne(String route, String idPrefix, String body) throws Exception {
        String requestId = UUID.randomUUID().toString();
        String responseId = idPrefix + requestId;

        // the headers come through before the upstream sent any token
        HttpResponse<InputStream> response = Http.CLIENT.send(
                Http.post("http://127.0.0.1:" + proxy.port(), route, body).header("X-Request-Id", requestId).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(simulator.tokensServed(responseId)).isEmpty();

        try (EventStreamReader events = new EventStreamReader(response.body())) {
            for (int step = 0; step < TOKENS; step++) {
                // when the upstream sends step i, and nothing after it
                simulator.release(responseId);

                // then its token reaches the client before step i + 1 is even released
                String token = "\" tok" + step + "\"";
                String event = events.nextMatching(e -> e.contains(token), EVENT_WAIT);
                assertThat(event).as("step %d", step).startsWith("data: {").doesNotContain("\" tok" + (step + 1) + "\"");
            }
            // the last step also carried [DONE], and the stream ends after it
            assertThat(events.nextMatching(e -> e.equals("data: [DONE]"), EVENT_WAIT)).isNotNull();
            assertThat(events.next(EVENT_WAIT)).isEmpty();
        }
    }
}
