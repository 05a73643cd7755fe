package dev.tokentap.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.config.Cli;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tokentap run --kafka} against a broker that takes only SASL/SCRAM logins: the login given in
 * {@code TOKENTAP_KAFKA_*} variables reaches both the proxy's producer and the aggregator's clients, so usage is
 * metered end to end. Without it the broker drops the connections and nothing is counted.
 */
class RunOnSecuredKafkaIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @Test
    void shouldMeterEndToEndWithTheKafkaLoginFromTheEnvironment(@TempDir Path dir) throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().scramSha512("tokentap-run", "run-secret").build().start();
                VllmSimulator sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1))
                        .build().start()) {
            // given tokentap run on that broker, its login only in the environment
            Map<String, Object> login = kafka.clientProperties();
            LocalTokentap.Settings settings = Cli.configure(new RunCommand(), new String[] {
                "--upstream", sim.baseUrl(), "--kafka", kafka.bootstrapServers(), "--listen", "127.0.0.1",
                "--proxy-port", "0", "--admin-port", "0", "--aggregator-port", "0",
                "--data-dir", dir.toString(), "--commit-interval", "100ms"}, Map.of(
                        "TOKENTAP_KAFKA_SECURITY_PROTOCOL", login.get("security.protocol").toString(),
                        "TOKENTAP_KAFKA_SASL_MECHANISM", login.get("sasl.mechanism").toString(),
                        "TOKENTAP_KAFKA_SASL_JAAS_CONFIG", login.get("sasl.jaas.config").toString()));
            try (LocalTokentap run = LocalTokentap.start(settings)) {
                assertThat(run.awaitAggregatorRunning(WAIT)).isTrue();

                // when three requests go through its proxy, one of them streamed
                long tokens = 0;
                for (int maxTokens : new int[] {3, 4, 5}) {
                    tokens += chat(run.proxyUrl(), sim.models().get(0), maxTokens, maxTokens == 4);
                }

                // then the proxy published them and the aggregator counted every token
                long expected = tokens;
                await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
                    assertThat(metrics(run.proxyAdminUrl()).sum("tokentap_proxy_events_published_total", Map.of()))
                            .isEqualTo(3);
                    assertThat(metrics(run.aggregatorUrl()).sum("vllm_total_tokens_total", Map.of()))
                            .isEqualTo(expected);
                });
            }
        }
    }

    /** Sends a chat completion and returns its total tokens as the upstream reported them to the client. */
    private static long chat(String base, String model, int maxTokens, boolean stream) throws Exception {
        String body = "{\"model\":\"" + model + "\",\"max_tokens\":" + maxTokens + ",\"stream\":" + stream
                + (stream ? ",\"stream_options\":{\"include_usage\":true}" : "")
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"secured\"}]}";
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(200);
        Matcher total = Pattern.compile("\"total_tokens\":(\\d+)")
                .matcher(response.body());
        assertThat(total.find()).as("usage in %s", response.body()).isTrue();
        return Long.parseLong(total.group(1));
    }

    private static PrometheusText metrics(String base) throws Exception {
        return PrometheusText.parse(HTTP.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body());
    }
}
