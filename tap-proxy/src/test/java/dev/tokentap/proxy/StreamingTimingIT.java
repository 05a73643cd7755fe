package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Streams reach the client event by event, as the upstream produces them, not gathered up. */
class StreamingTimingIT {

    private static final Duration ITL = Duration.ofMillis(100);
    private static final int TOKENS = 8;

    private static VllmSimulator simulator;
    private static TapProxy proxy;

    @BeforeAll
    static void start() {
        simulator = VllmSimulator.builder().ttft(ITL).itl(ITL).build().start();
        proxy = TapProxy.start(ProxyConfigs.loopback(simulator.baseUrl(), "--proxy-host", "timing-it",
                "--api-key-hash-secret", "x"), new RecordingPublisher(), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (simulator != null) {
            simulator.close();
        }
    }

    @Test
    void shouldDeliverEachStreamedEventAsItArrivesWhenStripping() throws Exception {
        assertEventsSpreadOut("{\"model\":\"tokentap/sim-1b\",\"stream\":true,\"max_tokens\":" + TOKENS
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"count\"}]}", "/v1/chat/completions");
    }

    @Test
    void shouldDeliverEachStreamedEventAsItArrivesWhenObserving() throws Exception {
        assertEventsSpreadOut("{\"model\":\"tokentap/sim-1b\",\"stream\":true,\"stream_options\":{},"
                + "\"max_tokens\":" + TOKENS + ",\"prompt\":\"count\"}", "/v1/completions");
    }

    private static void assertEventsSpreadOut(String body, String route) throws Exception {
        HttpResponse<InputStream> response = Http.CLIENT.send(
                Http.post("http://127.0.0.1:" + proxy.port(), route, body).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        List<Long> arrivals = new ArrayList<>();
        try (BufferedReader reader = new BufferedReader(
                new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                if (line.startsWith("data: ") && line.contains("\"choices\":[{")) {
                    arrivals.add(System.nanoTime());
                }
            }
        }

        // one event per token (the chat role chunk comes with the first), each about ITL after the one before
        List<Long> gapsMillis = new ArrayList<>();
        for (int i = 1; i < arrivals.size(); i++) {
            gapsMillis.add((arrivals.get(i) - arrivals.get(i - 1)) / 1_000_000);
        }
        long spreadMillis = (arrivals.get(arrivals.size() - 1) - arrivals.get(0)) / 1_000_000;
        long steps = gapsMillis.stream().filter(gap -> gap >= ITL.toMillis() / 2).count();
        assertThat(spreadMillis).as("gaps %s", gapsMillis).isGreaterThanOrEqualTo((TOKENS - 1) * ITL.toMillis() * 7 / 10);
        // an event held up by a busy machine is followed by a short gap as the next one catches up; events merged
        // pairwise by buffering would leave half the gaps short, which this still catches
        assertThat(steps).as("gaps %s", gapsMillis).isGreaterThanOrEqualTo(TOKENS - 3);
    }
}
