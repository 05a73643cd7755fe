package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** Kafka being away must not slow or stop the traffic; it shows in the metrics, and in the log after a while. */
class KafkaUnreachableIT {

    /**
     * How long the producer blocks for a broker it cannot reach. The bounds are a third of it: what they tell apart
     * is waiting for Kafka from not waiting, not fast from slow, so a busy machine stays far inside them.
     */
    private static final Duration KAFKA_BLOCK = Duration.ofSeconds(60);

    @Test
    void shouldServeRequestsPromptlyAndCountWhatCouldNotBePublished() throws IOException {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        try (VllmSimulator simulator = VllmSimulator.builder().build().start()) {
            TapProxy proxy = TapProxy.start(ProxyConfigs.loopback(
                    // far beyond the bounds below: a request or a close that waited for Kafka would take a minute
                    Map.of("TOKENTAP_KAFKA_MAX_BLOCK_MS", String.valueOf(KAFKA_BLOCK.toMillis())),
                    simulator.baseUrl(), "--proxy-host", "kafka-down-it", "--api-key-hash-secret", "x",
                    "--kafka", "127.0.0.1:" + closedPort, "--publish-queue", "2"));
            try {
                String base = "http://127.0.0.1:" + proxy.port();
                for (int i = 0; i < 6; i++) {
                    long start = System.nanoTime();
                    HttpResponse<String> response = Http.send(Http.post(base, "/v1/completions",
                            "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"kafka is down\",\"max_tokens\":2}"));
                    Duration took = Duration.ofNanos(System.nanoTime() - start);

                    assertThat(response.statusCode()).isEqualTo(200);
                    assertThat(took).isLessThan(KAFKA_BLOCK.dividedBy(3));
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
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(KAFKA_BLOCK.dividedBy(3));
            }
        }
    }

    @Test
    void shouldWarnWhenKafkaHasAcknowledgedNothingForAWhileAndSayWhenItIsBack(@TempDir Path dir) throws Exception {
        // given a spooling proxy whose Kafka is not there yet, told to warn after a second rather than 15
        int kafkaPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            kafkaPort = socket.getLocalPort();
        }
        Logger watchLog = (Logger) LoggerFactory.getLogger(KafkaDeliveryWatch.class);
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        watchLog.addAppender(lines);
        try (VllmSimulator simulator = VllmSimulator.builder().build().start()) {
            TapProxy proxy = TapProxy.start(ProxyConfigs.loopback(simulator.baseUrl(), "--proxy-host", "kafka-late-it",
                    "--api-key-hash-secret", "x", "--kafka", "127.0.0.1:" + kafkaPort,
                    "--spool-dir", dir.resolve("spool").toString()), Duration.ofSeconds(1));
            try {
                // when a request is metered, its event waits in the spool
                assertThat(Http.send(Http.post("http://127.0.0.1:" + proxy.port(), "/v1/completions",
                        "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"late kafka\",\"max_tokens\":2}"))
                        .statusCode()).isEqualTo(200);

                // then one WARN says so, naming the Kafka it waits for
                await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(lines.list)
                        .anySatisfy(line -> {
                            assertThat(line.getLevel()).isEqualTo(Level.WARN);
                            assertThat(line.getFormattedMessage()).startsWith("kafka unreachable")
                                    .contains("kafka=127.0.0.1:" + kafkaPort);
                        }));

                // and once a broker listens there and has the event, one INFO says Kafka is back
                try (EmbeddedKafka kafka = EmbeddedKafka.builder().port(kafkaPort).build().start()) {
                    await().atMost(Duration.ofSeconds(90)).untilAsserted(() -> assertThat(lines.list)
                            .anySatisfy(line -> {
                                assertThat(line.getLevel()).isEqualTo(Level.INFO);
                                assertThat(line.getFormattedMessage()).startsWith("kafka reachable again")
                                        .contains("kafka=" + kafka.bootstrapServers());
                            }));
                    assertThat(lines.list).filteredOn(line -> line.getLevel() == Level.WARN).hasSize(1);
                    proxy.close(Duration.ofSeconds(5));
                }
            } finally {
                proxy.close(Duration.ofMillis(500));
                watchLog.detachAppender(lines);
            }
        }
    }
}
