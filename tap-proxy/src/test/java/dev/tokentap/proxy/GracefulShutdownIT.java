package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.testkit.sim.EventStreamReader;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** On shutdown the proxy lets a stream in flight finish, and its usage is still published. */
class GracefulShutdownIT {

    private static final int TOKENS = 40;
    /** How long a released event may take through the proxy; only one held back for more data takes longer. */
    private static final Duration EVENT_WAIT = Duration.ofSeconds(10);

    @Test
    void shouldLetAStreamInFlightFinishAndPublishItsUsageWhenClosed() throws Exception {
        // the upstream sends each step only when released: the stream goes on for as long as the test wants
        try (VllmSimulator simulator = VllmSimulator.builder().host("127.0.0.1").port(0).stepByStep(true)
                .build().start()) {
            RecordingPublisher publisher = new RecordingPublisher();
            TapProxy proxy = TapProxy.start(ProxyConfigs.loopback(simulator.baseUrl(), "--proxy-host", "drain-it",
                    "--api-key-hash-secret", "x", "--drain-timeout", "20s"), publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
            int port = proxy.port();

            // given a stream of 40 tokens whose first 5 have reached the client
            HttpResponse<InputStream> response = Http.CLIENT.send(Http.post("http://127.0.0.1:" + port,
                    "/v1/completions", "{\"model\":\"tokentap/sim-1b\",\"stream\":true,\"max_tokens\":" + TOKENS
                            + ",\"prompt\":\"drain\"}").header("X-Request-Id", "in-flight").build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            assertThat(response.statusCode()).isEqualTo(200);
            try (EventStreamReader events = new EventStreamReader(response.body())) {
                simulator.release("cmpl-in-flight", 5);
                events.nextMatching(event -> event.contains("\" tok4\""), EVENT_WAIT);

                // when the proxy is told to stop, and no longer takes connections
                CompletableFuture<Void> closing = CompletableFuture.runAsync(proxy::close);
                await().atMost(Duration.ofSeconds(20)).until(() -> refusesConnections(port));
                assertThat(closing).as("close waits for the stream").isNotDone();

                // then the rest, sent by the upstream during the drain, reaches the client whole
                simulator.release("cmpl-in-flight", TOKENS - 5);
                for (int token = 5; token < TOKENS; token++) {
                    String text = "\" tok" + token + "\"";
                    events.nextMatching(event -> event.contains(text), EVENT_WAIT);
                }
                events.nextMatching(event -> event.equals("data: [DONE]"), EVENT_WAIT);
                assertThat(events.next(EVENT_WAIT)).isEmpty();
                closing.get(30, TimeUnit.SECONDS);
            }

            // and its usage was published
            List<UsageEvent> published = publisher.byRequestId("in-flight");
            assertThat(published).hasSize(1);
            assertThat(published.get(0).outcome()).isEqualTo(Outcome.OK);
            assertThat(published.get(0).completionTokens()).isEqualTo(TOKENS);
        }
    }

    private static boolean refusesConnections(int port) {
        try (Socket ignored = new Socket("127.0.0.1", port)) {
            return false;
        } catch (IOException refused) {
            return true;
        }
    }
}
