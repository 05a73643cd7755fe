package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** On shutdown the proxy lets a stream in flight finish, and its usage is still published. */
class GracefulShutdownIT {

    @Test
    void shouldLetAStreamInFlightFinishAndPublishItsUsageWhenClosed() throws Exception {
        try (VllmSimulator simulator = VllmSimulator.builder().host("127.0.0.1").port(0)
                .itl(Duration.ofMillis(40)).build().start()) {
            RecordingPublisher publisher = new RecordingPublisher();
            TapProxy proxy = TapProxy.start(ProxyConfigs.loopback(simulator.baseUrl(), "--proxy-host", "drain-it",
                    "--api-key-hash-secret", "x", "--drain-timeout", "20s"), publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));

            // given a stream of 40 tokens, about 1.6 s long, under way
            CompletableFuture<HttpResponse<String>> stream = Http.CLIENT.sendAsync(Http.post(
                    "http://127.0.0.1:" + proxy.port(), "/v1/completions",
                    "{\"model\":\"tokentap/sim-1b\",\"stream\":true,\"max_tokens\":40,\"prompt\":\"drain\"}")
                    .header("X-Request-Id", "in-flight").build(), HttpResponse.BodyHandlers.ofString());
            await().atMost(Duration.ofSeconds(10)).until(() -> !simulator.received().isEmpty());

            // when the proxy is told to stop
            proxy.close();

            // then the stream was delivered whole, and its usage published
            HttpResponse<String> response = stream.get(10, TimeUnit.SECONDS);
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.body()).contains("data: [DONE]");
            List<UsageEvent> events = publisher.byRequestId("in-flight");
            assertThat(events).hasSize(1);
            assertThat(events.get(0).outcome()).isEqualTo(Outcome.OK);
            assertThat(events.get(0).completionTokens()).isEqualTo(40);
        }
    }
}
