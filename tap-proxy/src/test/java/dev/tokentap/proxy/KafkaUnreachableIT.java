package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.testkit.sim.VllmSimulator;
import dev.tokentap.testkit.metrics.PrometheusText;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Kafka being away must not slow or stop the traffic; it only shows in the metrics. */
class KafkaUnreachableIT {

    @Test
    void shouldServeRequestsPromptlyAndCountWhatCouldNotBePublished() throws IOException {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        try (VllmSimulator simulator = VllmSimulator.builder().build().start()) {
            TapProxy proxy = TapProxy.start(TapProxyConfig.builder(URI.create(simulator.baseUrl()))
                    .listenHost("127.0.0.1").port(0).adminPort(0).proxyHost("kafka-down-it").apiKeyHashSecret("x")
                    .kafkaBootstrap("127.0.0.1:" + closedPort)
                    .kafkaProperties(Map.of("max.block.ms", "10000"))
                    .publishQueue(2)
                    .build());
            try {
                String base = "http://127.0.0.1:" + proxy.port();
                for (int i = 0; i < 6; i++) {
                    long start = System.nanoTime();
                    HttpResponse<String> response = Http.send(Http.post(base, "/v1/completions",
                            "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"kafka is down\",\"max_tokens\":2}"));
                    Duration took = Duration.ofNanos(System.nanoTime() - start);

                    assertThat(response.statusCode()).isEqualTo(200);
                    assertThat(took).isLessThan(Duration.ofSeconds(2));
                }

                String admin = "http://127.0.0.1:" + proxy.adminPort();
                assertThat(Http.get(admin + "/readyz").statusCode()).isEqualTo(200);
                PrometheusText metrics = PrometheusText.parse(Http.get(admin + "/metrics").body());
                // one event is stuck in send() waiting for metadata, two wait in the queue, the rest are dropped;
                // the gauge counts the three held in memory
                assertThat(metrics.sum("tokentap_proxy_publish_failures_total", Map.of("reason", "queue_full")))
                        .isGreaterThanOrEqualTo(3L);
                assertThat(metrics.sum("tokentap_proxy_publish_queue_size", Map.of())).isEqualTo(3L);
                assertThat(metrics.sum("tokentap_proxy_events_published_total", Map.of())).isZero();
                assertThat(metrics.sum("tokentap_proxy_requests_total",
                        Map.of("route", "/v1/completions", "outcome", "ok"))).isEqualTo(6L);
            } finally {
                long start = System.nanoTime();
                proxy.close(Duration.ofMillis(500));
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
            }
        }
    }
}
