package dev.tokentap.aggregator.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.aggregator.AggregatorMetrics.Scrape;
import dev.tokentap.aggregator.topology.UsageLabels;
import dev.tokentap.aggregator.topology.UsageTotals;
import dev.tokentap.config.Secret;
import dev.tokentap.event.UsageEvent;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.streams.KafkaStreams.State;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AggregatorHttpServerTest {

    private final HttpClient client = HttpClient.newHttpClient();
    private final StreamsHealth health = new StreamsHealth();
    private final AtomicReference<Optional<SortedMap<UsageLabels, UsageTotals>>> totals =
            new AtomicReference<>(Optional.empty());
    private final AtomicReference<String> lastAccept = new AtomicReference<>();
    private AggregatorHttpServer server;

    @BeforeEach
    void startServer() {
        server = AggregatorHttpServer.start(new HttpApi("127.0.0.1", 0, null), accept -> {
            lastAccept.set(accept);
            return new Scrape("text/plain; version=0.0.4; charset=utf-8", "up 1\n");
        }, totals::get, health, health::ready);
    }

    @AfterEach
    void stopServer() {
        server.close();
    }

    @Test
    void shouldServeTheScrapeForTheAcceptHeader() throws Exception {
        HttpResponse<String> response = client.send(HttpRequest.newBuilder(uri("/metrics"))
                .header("Accept", "application/openmetrics-text").build(), HttpResponse.BodyHandlers.ofString());

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
        assertThat(response.body()).isEqualTo("up 1\n");
        assertThat(lastAccept.get()).isEqualTo("application/openmetrics-text");
    }

    @Test
    void shouldServeTheUsagePageAndTheChartScriptItLoads() throws Exception {
        HttpResponse<String> page = get("/");
        HttpResponse<String> script = get(UsagePage.CHART_JS);

        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.body()).contains("<script src=\"" + UsagePage.CHART_JS + "\"></script>");
        assertThat(script.statusCode()).isEqualTo(200);
        assertThat(script.headers().firstValue("Content-Type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("text/javascript"));
        assertThat(script.body()).contains("Chart.js v4.4.1");
    }

    @Test
    void shouldAnswer503WithTheReasonWhenMetricsCannotBeRendered() throws Exception {
        try (AggregatorHttpServer failing = AggregatorHttpServer.start(new HttpApi("127.0.0.1", 0, null), accept -> {
            throw new IllegalStateException("metrics cannot be rendered: totals store not readable");
        }, () -> {
            throw new IllegalStateException("totals store not readable");
        }, health, health::ready)) {
            HttpResponse<String> scrape = send("http://127.0.0.1:" + failing.port() + "/metrics", null);
            HttpResponse<String> usage = send("http://127.0.0.1:" + failing.port() + "/api/v1/usage", null);

            assertThat(scrape.statusCode()).isEqualTo(503);
            assertThat(scrape.body()).isEqualTo("metrics cannot be rendered: totals store not readable");
            assertThat(usage.statusCode()).isEqualTo(503);
            assertThat(usage.body()).contains("totals store not readable");
        }
    }

    @Test
    void shouldBeHealthyButNotReadyUntilStreamsRuns() throws Exception {
        assertThat(get("/healthz").statusCode()).isEqualTo(200);
        assertThat(get("/readyz").statusCode()).isEqualTo(503);
        assertThat(get("/readyz").body()).contains("\"streams_state\":\"CREATED\"");

        health.onChange(State.RUNNING, State.REBALANCING);
        health.onChange(State.REBALANCING, State.RUNNING);

        assertThat(get("/readyz").statusCode()).isEqualTo(200);
        assertThat(get("/readyz").body()).isEqualTo("{\"status\":\"ok\",\"streams_state\":\"REBALANCING\"}");
    }

    @Test
    void shouldFailHealthWhenStreamsHasFailed() throws Exception {
        health.onChange(State.ERROR, State.PENDING_ERROR);

        assertThat(get("/healthz").statusCode()).isEqualTo(503);
        assertThat(get("/readyz").statusCode()).isEqualTo(503);
    }

    @Test
    void shouldListTheLocalTotalsSortedByLabels() throws Exception {
        SortedMap<UsageLabels, UsageTotals> local = new TreeMap<>();
        local.put(new UsageLabels("unknown", "10.0.0.2", "/v1/completions", "proxy-a", "llama"),
                UsageTotals.EMPTY.add(event("ok", 5L, 6L, null)));
        local.put(new UsageLabels("unknown", "10.0.0.1", "other", "proxy-a", "llama"),
                UsageTotals.EMPTY.add(event("ok", 1L, 2L, 1L)).add(event("client_aborted", 1L, null, null)));
        totals.set(Optional.of(local));

        HttpResponse<String> response = get("/api/v1/usage");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type")).get().asString().startsWith("application/json");
        assertThat(response.body()).isEqualTo("["
                + "{\"namespace\":\"unknown\",\"client_name\":\"10.0.0.1\",\"full_path\":\"other\","
                + "\"hostname\":\"proxy-a\",\"model\":\"llama\",\"prompt_tokens\":2,\"completion_tokens\":2,"
                + "\"total_tokens\":4,\"cached_tokens\":1,\"reasoning_tokens\":0,\"audio_seconds\":0,\"cost\":{},"
                + "\"unpriced_requests\":0,\"requests\":{\"client_aborted\":1,\"ok\":1}},"
                + "{\"namespace\":\"unknown\",\"client_name\":\"10.0.0.2\",\"full_path\":\"/v1/completions\","
                + "\"hostname\":\"proxy-a\",\"model\":\"llama\",\"prompt_tokens\":5,\"completion_tokens\":6,"
                + "\"total_tokens\":11,\"cached_tokens\":0,\"reasoning_tokens\":0,\"audio_seconds\":0,\"cost\":{},"
                + "\"unpriced_requests\":0,\"requests\":{\"ok\":1}}]");
    }

    @Test
    void shouldAnswer503ForUsageWhileTheStoreIsNotReadable() throws Exception {
        HttpResponse<String> response = get("/api/v1/usage");

        assertThat(response.statusCode()).isEqualTo(503);
        assertThat(response.body()).contains("\"error\"");
    }

    @Test
    void shouldServeMetricsAndUsageOnlyWithTheTokenWhenOneIsSet() throws Exception {
        try (AggregatorHttpServer guarded = AggregatorHttpServer.start(
                new HttpApi("127.0.0.1", 0, Secret.of("agg-s3cret")),
                accept -> new Scrape("text/plain; version=0.0.4; charset=utf-8", "up 1\n"), totals::get, health,
                health::ready)) {
            String base = "http://127.0.0.1:" + guarded.port();
            for (String path : new String[] {"/metrics", "/api/v1/usage"}) {
                assertThat(send(base + path, null).statusCode()).as(path).isEqualTo(401);
                assertThat(send(base + path, "Bearer wrong").statusCode()).as(path).isEqualTo(401);
            }
            HttpResponse<String> scrape = send(base + "/metrics", "Bearer agg-s3cret");
            assertThat(scrape.statusCode()).isEqualTo(200);
            assertThat(scrape.body()).isEqualTo("up 1\n");
            assertThat(send(base + "/healthz", null).statusCode()).isEqualTo(200);
            assertThat(send(base + "/readyz", null).statusCode()).isEqualTo(503);
        }
    }

    private HttpResponse<String> send(String url, String authorization) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url));
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(uri(path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.port() + path);
    }

    private static UsageEvent event(String outcome, Long prompt, Long completion, Long cached) {
        return UsageEvent.builder().eventId("e").route("/v1/completions").outcome(outcome)
                .promptTokens(prompt).completionTokens(completion).cachedTokens(cached).build();
    }
}
