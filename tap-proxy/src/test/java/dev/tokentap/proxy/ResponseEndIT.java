package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.proxy.publish.SpoolingUsagePublisher;
import dev.tokentap.proxy.publish.UsagePublisher;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.javalin.Javalin;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The end of a response reaches the client only once the publisher has its usage event for good: the last bytes
 * of a body, a stream's {@code [DONE]}, the completion of a response without a body. With a publisher whose
 * hand-over the test completes itself, and with the real disk spool.
 */
class ResponseEndIT {

    private static final Duration HELD = Duration.ofMillis(400);
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String MODEL = "tokentap/sim-1b";

    private static final GatedPublisher GATED = new GatedPublisher();
    private static VllmSimulator simulator;
    private static Javalin emptyBodies;
    private static TapProxy gated;
    private static TapProxy toEmpty;

    @BeforeAll
    static void start() {
        simulator = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(5)).build().start();
        // an upstream answering a metered route with a 200 and no body at all
        emptyBodies = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.routes.post("/v1/completions", ctx -> ctx.status(200));
        }).start("127.0.0.1", 0);
        gated = startProxy(simulator.baseUrl(), GATED);
        toEmpty = startProxy("http://127.0.0.1:" + emptyBodies.port(), GATED);
    }

    private static TapProxy startProxy(String upstream, UsagePublisher publisher) {
        return TapProxy.start(ProxyConfigs.loopback(upstream, "--proxy-host", "end-it", "--api-key-hash-secret", "x"),
                publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    }

    @AfterAll
    static void stop() {
        GATED.releaseAll();
        for (AutoCloseable closeable : new AutoCloseable[] {gated, toEmpty, simulator}) {
            try {
                if (closeable != null) {
                    closeable.close();
                }
            } catch (Exception ignored) {
                // best effort
            }
        }
        if (emptyBodies != null) {
            emptyBodies.stop();
        }
    }

    @Test
    void shouldHoldAResponseBodyUntilItsEventIsHandedOver() {
        // given a completion whose event the publisher has taken but not yet written
        String requestId = UUID.randomUUID().toString();
        CompletableFuture<HttpResponse<String>> response = Http.CLIENT.sendAsync(Http.post(base(gated),
                "/v1/completions", "{\"model\":\"" + MODEL + "\",\"prompt\":\"hold me\",\"max_tokens\":3}")
                .header("X-Request-Id", requestId).build(), HttpResponse.BodyHandlers.ofString());
        UsageEvent event = GATED.awaitEvent(requestId);
        assertThat(event.outcome()).isEqualTo(Outcome.OK);

        // then the client does not have its answer
        await().during(HELD).atMost(HELD.multipliedBy(3)).until(() -> !response.isDone());

        // when the event is written, then it has all of it
        GATED.release(requestId);
        HttpResponse<String> answer = response.orTimeout(WAIT.toSeconds(), TimeUnit.SECONDS)
                .join();
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.body()).contains("\"completion_tokens\":3");
        assertThat(GATED.count(requestId)).isEqualTo(1);
    }

    @Test
    void shouldHoldAStreamsLastEventUntilItsEventIsHandedOver() throws Exception {
        assertStreamEndHeld("/v1/chat/completions", "{\"model\":\"" + MODEL + "\",\"stream\":true,"
                + "\"max_tokens\":6,\"messages\":[{\"role\":\"user\",\"content\":\"stream and hold\"}]}");
    }

    @Test
    void shouldHoldAStreamsLastEventWhenTheClientAskedForUsageItself() throws Exception {
        assertStreamEndHeld("/v1/completions", "{\"model\":\"" + MODEL + "\",\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"max_tokens\":6,\"prompt\":\"observe\"}");
    }

    private static void assertStreamEndHeld(String route, String body) throws Exception {
        // given a stream read line by line as it arrives
        String requestId = UUID.randomUUID().toString();
        HttpResponse<InputStream> response = Http.CLIENT.send(Http.post(base(gated), route, body)
                .header("X-Request-Id", requestId).build(), HttpResponse.BodyHandlers.ofInputStream());
        List<String> lines = new CopyOnWriteArrayList<>();
        ExecutorService reader = Executors.newSingleThreadExecutor();
        try {
            Future<?> ended = reader.submit(() -> readLines(response.body(), lines));

            // when the proxy has the usage and has handed the event over, not yet written
            GATED.awaitEvent(requestId);

            // then the tokens have reached the client, the end of the stream has not
            await().during(HELD).atMost(HELD.multipliedBy(3)).until(() -> !ended.isDone()
                    && lines.stream().noneMatch(l -> l.equals("data: [DONE]")));
            assertThat(lines).anySatisfy(l -> assertThat(l).contains("\"choices\":[{"));

            // when the event is written, then the stream ends with [DONE]
            GATED.release(requestId);
            ended.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(lines).contains("data: [DONE]");
            assertThat(lines.get(lines.size() - 2)).isEqualTo("data: [DONE]");
            assertThat(GATED.count(requestId)).isEqualTo(1);
        } finally {
            reader.shutdownNow();
        }
    }

    @Test
    void shouldHoldTheCompletionOfAResponseWithoutABody() {
        // given an upstream that answers 200 with no body
        String requestId = UUID.randomUUID().toString();
        CompletableFuture<HttpResponse<String>> response = Http.CLIENT.sendAsync(Http.post(base(toEmpty),
                "/v1/completions", "{\"model\":\"" + MODEL + "\",\"prompt\":\"nothing back\"}")
                .header("X-Request-Id", requestId).build(), HttpResponse.BodyHandlers.ofString());
        GATED.awaitEvent(requestId);

        // then the response does not complete until the event is written
        await().during(HELD).atMost(HELD.multipliedBy(3)).until(() -> !response.isDone());
        GATED.release(requestId);
        HttpResponse<String> answer = response.orTimeout(WAIT.toSeconds(), TimeUnit.SECONDS)
                .join();
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.body()).isEmpty();
    }

    @Test
    void shouldRecordOnceAndServeOnWhenTheClientLeavesWhileItsEndIsHeld() throws Exception {
        // given a client that sent a completion and leaves once the proxy holds the end of its answer
        String requestId = UUID.randomUUID().toString();
        String body = "{\"model\":\"" + MODEL + "\",\"prompt\":\"leaving\",\"max_tokens\":2}";
        try (Socket socket = new Socket("127.0.0.1", gated.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "X-Request-Id: " + requestId + "\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            GATED.awaitEvent(requestId);
        }

        // when the event is written after the client left
        GATED.release(requestId);

        // then it was recorded once, and the proxy serves the next client (whose event is written at once)
        GATED.release("next-" + requestId);
        HttpResponse<String> next = Http.send(Http.post(base(gated), "/v1/completions",
                "{\"model\":\"" + MODEL + "\",\"prompt\":\"next\",\"max_tokens\":1}")
                .header("X-Request-Id", "next-" + requestId));
        assertThat(next.statusCode()).isEqualTo(200);
        assertThat(GATED.count(requestId)).isEqualTo(1);
    }

    @Test
    void shouldRecordEveryRequestOfAKeepAliveConnectionAsItsClientSawIt() {
        // given a publisher that writes each event a moment later, on a thread of its own, as the spool does
        ExecutorService disk = Executors.newSingleThreadExecutor();
        RecordingPublisher recorded = new RecordingPublisher();
        UsagePublisher later = new UsagePublisher() {
            @Override
            public CompletionStage<Void> publish(UsageEvent event) {
                return CompletableFuture.runAsync(() -> recorded.publish(event), disk);
            }

            @Override
            public void close(Duration timeout) {
                disk.shutdown();
            }
        };
        TapProxy proxy = startProxy(simulator.baseUrl(), later);
        try {
            // when one client sends request after request on its connection, streamed and not
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                String requestId = UUID.randomUUID().toString();
                ids.add(requestId);
                String body = i % 2 == 0
                        ? "{\"model\":\"" + MODEL + "\",\"prompt\":\"again " + i + "\",\"max_tokens\":2}"
                        : "{\"model\":\"" + MODEL + "\",\"stream\":true,\"max_tokens\":2,\"prompt\":\"again\"}";
                assertThat(Http.send(Http.post(base(proxy), "/v1/completions", body).header("X-Request-Id",
                        requestId)).statusCode()).isEqualTo(200);
            }

            // then each was recorded once, as answered: the end of one response never touched the next request
            await().atMost(WAIT).until(() -> recorded.events().size() >= ids.size());
            assertThat(ids).allSatisfy(id -> assertThat(recorded.byRequestId(id)).singleElement()
                    .satisfies(e -> assertThat(e.outcome()).as("outcome of %s", id).isEqualTo(Outcome.OK)));
        } finally {
            proxy.close();
        }
    }

    @Test
    void shouldHaveSpooledEveryEventByTheTimeItsClientHasItsAnswer(@TempDir Path spoolDir) throws Exception {
        // given a proxy with the real disk spool, and a Kafka that is not there (events stay on disk)
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        TapProxyConfig config = ProxyConfigs.loopback(Map.of("TOKENTAP_KAFKA_MAX_BLOCK_MS", "1000"),
                simulator.baseUrl(), "--proxy-host", "end-spool-it", "--api-key-hash-secret", "x",
                "--kafka", "127.0.0.1:9", "--spool-dir", spoolDir.toString());
        TapProxy spooled = TapProxy.start(config, registry, metrics -> SpoolingUsagePublisher.create(
                config.publishing(), "end-spool-it", metrics));
        AtomicInteger answered = new AtomicInteger();
        ExecutorService clients = Executors.newFixedThreadPool(8);
        try {
            // when 40 clients, half of them streaming, have their answers, each noting how many events were
            // spooled the moment it had its own
            List<Future<Long>> spooledWhenAnswered = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                String body = i % 2 == 0
                        ? "{\"model\":\"" + MODEL + "\",\"prompt\":\"spool " + i + "\",\"max_tokens\":3}"
                        : "{\"model\":\"" + MODEL + "\",\"stream\":true,\"max_tokens\":3,\"prompt\":\"spool " + i
                        + "\"}";
                spooledWhenAnswered.add(clients.submit(() -> {
                    HttpResponse<String> answer = Http.send(Http.post(base(spooled), "/v1/completions", body));
                    assertThat(answer.statusCode()).isEqualTo(200);
                    int answeredSoFar = answered.incrementAndGet();
                    return spooled(registry) - answeredSoFar;
                }));
            }

            // then at every answer at least as many events were in the spool's file as clients had answers
            for (Future<Long> surplus : spooledWhenAnswered) {
                assertThat(surplus.get(60, TimeUnit.SECONDS)).isNotNegative();
            }
            PrometheusText metrics = PrometheusText.parse(registry.scrape());
            assertThat(metrics.sum("tokentap_proxy_events_spooled_total", Map.of())).isEqualTo(40);
            assertThat(metrics.sum("tokentap_proxy_events_released_unwritten_total", Map.of())).isZero();
        } finally {
            clients.shutdownNow();
            spooled.close(Duration.ofSeconds(1));
        }
    }

    private static long spooled(PrometheusMeterRegistry registry) {
        return (long) registry.get("tokentap.proxy.events.spooled").counter().count();
    }

    private static String base(TapProxy proxy) {
        return "http://127.0.0.1:" + proxy.port();
    }

    private static void readLines(InputStream body, List<String> lines) {
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                lines.add(line);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Takes events and completes each one's hand-over only when the test says so. */
    private static final class GatedPublisher implements UsagePublisher {
        private final Map<String, List<UsageEvent>> events = new ConcurrentHashMap<>();
        private final Map<String, CompletableFuture<Void>> stages = new ConcurrentHashMap<>();

        @Override
        public CompletionStage<Void> publish(UsageEvent event) {
            events.computeIfAbsent(event.requestId(), id -> new CopyOnWriteArrayList<>()).add(event);
            return stages.computeIfAbsent(event.requestId(), id -> new CompletableFuture<>());
        }

        UsageEvent awaitEvent(String requestId) {
            await().atMost(WAIT).until(() -> events.containsKey(requestId));
            return events.get(requestId).get(0);
        }

        int count(String requestId) {
            return events.getOrDefault(requestId, List.of()).size();
        }

        void release(String requestId) {
            stages.computeIfAbsent(requestId, id -> new CompletableFuture<>()).complete(null);
        }

        void releaseAll() {
            stages.values().forEach(stage -> stage.complete(null));
        }

        @Override
        public void close(Duration timeout) {
            releaseAll();
        }
    }
}
