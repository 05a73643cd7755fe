package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.Topics;
import dev.tokentap.testkit.metrics.PrometheusText;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * What the clients were answered, request by request, and the exact comparison of the aggregator's {@code /metrics}
 * and the {@code read_committed} enriched topic with it: every request counted once, with its outcome and tokens,
 * nothing lost and nothing twice. Safe to record into from a load thread while the test thread checks.
 */
final class UsageLedger {

    static final Duration WAIT = Duration.ofSeconds(120);
    static final ObjectMapper JSON = new ObjectMapper();

    /** One request as the proxy named {@code hostname} must have metered it. */
    record Entry(String hostname, String outcome, long promptTokens, long completionTokens) {
    }

    /** What a comparison found, for the {@code FIGURES} line and for assertions on the de-duplication. */
    record Figures(int requests, int enrichedRecords, long promptTokens, long completionTokens, long duplicates) {
    }

    /**
     * What a comparison with requests left unanswered found.
     *
     * @param answered           requests answered whole (each must be counted once)
     * @param unanswered         requests whose answer the client did not get whole (each may be counted, once)
     * @param unansweredCounted  how many of those were counted nonetheless
     */
    record AnsweredFigures(int answered, int unanswered, int unansweredCounted, long promptTokens,
                           long completionTokens, long duplicates) {
    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Set<String> unanswered = new LinkedHashSet<>();
    private final HttpClient http = HttpClient.newHttpClient();
    private final AtomicInteger sequence = new AtomicInteger();
    private final String bootstrap;

    UsageLedger(String bootstrap) {
        this.bootstrap = bootstrap;
    }

    synchronized void record(String requestId, Entry entry) {
        assertThat(entries.putIfAbsent(requestId, entry)).as("request id %s used twice", requestId).isNull();
    }

    synchronized int size() {
        return entries.size();
    }

    /**
     * A request whose answer the client did not get whole (refused, cut, timed out): the proxy may have recorded it
     * before it died, and must not have recorded it twice.
     */
    synchronized void recordUnanswered(String requestId) {
        assertThat(entries).as("request id %s answered", requestId).doesNotContainKey(requestId);
        assertThat(unanswered.add(requestId)).as("request id %s used twice", requestId).isTrue();
    }

    /**
     * Sends one request through the proxy on {@code proxyPort} (a completion, or with {@code stream} a streamed chat
     * that asks for its usage), records it answered with the usage the answer reported when it came whole with 200,
     * else unanswered; returns whether it was answered.
     */
    boolean sendOne(int proxyPort, String hostname, String model, boolean stream, Duration timeout)
            throws InterruptedException {
        String requestId = nextRequestId();
        String body = stream
                ? "{\"model\":\"" + model + "\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"count me once\"}],\"max_tokens\":"
                        + (2 + requestId.length() % 5) + "}"
                : "{\"model\":\"" + model + "\",\"prompt\":\"count me once please\",\"max_tokens\":"
                        + (1 + requestId.length() % 5) + "}";
        HttpResponse<String> response;
        try {
            response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxyPort
                            + (stream ? "/v1/chat/completions" : "/v1/completions")))
                    .header("Content-Type", "application/json")
                    .header("X-Request-Id", requestId)
                    .timeout(timeout)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            recordUnanswered(requestId);
            return false;
        }
        JsonNode usage;
        try {
            usage = response.statusCode() == 200 ? usage(response.body(), stream) : null;
        } catch (JsonProcessingException e) {
            throw new AssertionError("a whole 200 answer to " + requestId + " that is not what the upstream sent: "
                    + response.body(), e);
        }
        if (usage == null) {
            recordUnanswered(requestId);
            return false;
        }
        record(requestId, new Entry(hostname, Outcome.OK, usage.path("prompt_tokens").asLong(),
                usage.path("completion_tokens").asLong()));
        return true;
    }

    /** The usage an answer reported; for a stream, that of its usage chunk, and only if it ended with [DONE]. */
    private static JsonNode usage(String body, boolean stream) throws JsonProcessingException {
        if (!stream) {
            return JSON.readTree(body).path("usage");
        }
        JsonNode usage = null;
        String last = null;
        for (String line : body.split("\n")) {
            if (!line.startsWith("data: ")) {
                continue;
            }
            last = line.substring("data: ".length());
            if (!last.equals("[DONE]")) {
                JsonNode chunk = JSON.readTree(last);
                if (chunk.path("usage").isObject()) {
                    usage = chunk.path("usage");
                }
            }
        }
        return "[DONE]".equals(last) ? usage : null;
    }

    /** A request id no other request of this ledger has. */
    String nextRequestId() {
        return "req-" + sequence.incrementAndGet();
    }

    /**
     * Sends {@code n} requests through the proxy on {@code proxyPort}, alternating chat and completions, each
     * answered 200, and records the usage each answer reported.
     */
    void send(int proxyPort, String hostname, String model, int n) throws IOException, InterruptedException {
        for (int i = 0; i < n; i++) {
            int k = sequence.incrementAndGet();
            String requestId = "req-" + k;
            boolean chat = k % 2 == 0;
            String body = chat
                    ? "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                            + "\"count me once\"}],\"max_tokens\":" + (1 + k % 7) + "}"
                    : "{\"model\":\"" + model + "\",\"prompt\":\"count me once please\","
                            + "\"max_tokens\":" + (1 + k % 5) + "}";
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                            + proxyPort + (chat ? "/v1/chat/completions" : "/v1/completions")))
                    .header("Content-Type", "application/json")
                    .header("X-Request-Id", requestId)
                    .timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as("answer to %s", requestId).isEqualTo(200);
            JsonNode usage = JSON.readTree(response.body()).path("usage");
            record(requestId, new Entry(hostname, Outcome.OK, usage.path("prompt_tokens").asLong(),
                    usage.path("completion_tokens").asLong()));
        }
    }

    /**
     * Waits until the usage totals summed over the aggregators serving {@code metricsUrls} (as Prometheus's sum()
     * would) and the enriched topic hold exactly what was recorded, checks they stay so, and prints a
     * {@code FIGURES} line for docs/reliability.md.
     */
    Figures awaitExact(String scenario, String note, List<String> metricsUrls) throws IOException, InterruptedException {
        Map<String, Entry> expected;
        synchronized (this) {
            expected = new LinkedHashMap<>(entries);
        }
        int requests = expected.size();
        long prompt = expected.values().stream().mapToLong(Entry::promptTokens).sum();
        long completion = expected.values().stream().mapToLong(Entry::completionTokens).sum();
        await().atMost(WAIT).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
            List<PrometheusText> scrapes = scrape(metricsUrls);
            assertThat(sum(scrapes, "vllm_requests_total", Map.of())).as("requests").isEqualTo(requests);
            assertThat(sum(scrapes, "vllm_prompt_tokens_total", Map.of())).as("prompt tokens").isEqualTo(prompt);
            assertThat(sum(scrapes, "vllm_completion_tokens_total", Map.of())).as("completion tokens")
                    .isEqualTo(completion);
            for (Map.Entry<String, Long> outcome : count(expected, Entry::outcome).entrySet()) {
                assertThat(sum(scrapes, "vllm_requests_total", Map.of("outcome", outcome.getKey())))
                        .as("requests with outcome %s", outcome.getKey()).isEqualTo(outcome.getValue());
            }
            // each proxy stands for one kind of fault, so its hostname's token totals check that fault's tokens
            for (String hostname : count(expected, Entry::hostname).keySet()) {
                Map<String, String> host = Map.of("hostname", hostname);
                assertThat(sum(scrapes, "vllm_prompt_tokens_total", host)).as("prompt tokens via %s", hostname)
                        .isEqualTo(expected.values().stream().filter(e -> e.hostname().equals(hostname))
                                .mapToLong(Entry::promptTokens).sum());
                assertThat(sum(scrapes, "vllm_completion_tokens_total", host)).as("completion tokens via %s",
                        hostname).isEqualTo(expected.values().stream().filter(e -> e.hostname().equals(hostname))
                        .mapToLong(Entry::completionTokens).sum());
            }
        });

        Map<String, List<JsonNode>> enriched = enrichedByRequestId(requests);
        assertThat(enriched.keySet()).as("request ids on the enriched topic").isEqualTo(expected.keySet());
        for (Map.Entry<String, Entry> e : expected.entrySet()) {
            List<JsonNode> records = enriched.get(e.getKey());
            assertThat(records).as("enriched records of %s", e.getKey()).hasSize(1);
            JsonNode record = records.get(0);
            Entry entry = e.getValue();
            assertThat(record.path("outcome").asText()).as("outcome of %s", e.getKey()).isEqualTo(entry.outcome());
            assertThat(record.path("proxy_host").asText()).as("proxy of %s", e.getKey()).isEqualTo(entry.hostname());
            assertThat(record.path("prompt_tokens").asLong()).as("prompt tokens of %s", e.getKey())
                    .isEqualTo(entry.promptTokens());
            assertThat(record.path("completion_tokens").asLong()).as("completion tokens of %s", e.getKey())
                    .isEqualTo(entry.completionTokens());
        }
        int enrichedRecords = enriched.values().stream().mapToInt(List::size).sum();

        // still exact a little later: nothing arrives twice after the fact
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(sum(scrape(metricsUrls), "vllm_requests_total", Map.of())).isEqualTo(requests));
        long duplicates = sum(scrape(metricsUrls), "tokentap_aggregator_duplicates_total", Map.of());
        System.out.printf("FIGURES scenario=\"%s\" requests_sent=%d events_counted=%d enriched_records=%d "
                        + "prompt_tokens=%d completion_tokens=%d duplicates_removed=%d lost=%d outcomes=%s %s%n",
                scenario, requests, requests, enrichedRecords, prompt, completion, duplicates, 0,
                count(expected, Entry::outcome), note);
        return new Figures(requests, enrichedRecords, prompt, completion, duplicates);
    }

    /**
     * Waits until the aggregators serving {@code metricsUrls} and the enriched topic hold every answered request
     * exactly once, with its outcome and tokens, and requests left unanswered at most once each, and nothing else;
     * checks that the totals on {@code /metrics} are those of the records and stay so; prints a {@code FIGURES}
     * line for docs/reliability.md.
     */
    AnsweredFigures awaitAnsweredExact(String scenario, String note, List<String> metricsUrls)
            throws IOException, InterruptedException {
        Map<String, Entry> expected;
        Set<String> maybe;
        synchronized (this) {
            expected = new LinkedHashMap<>(entries);
            maybe = new LinkedHashSet<>(unanswered);
        }
        Map<String, List<JsonNode>> enriched = new LinkedHashMap<>();
        try (KafkaConsumer<String, String> consumer = enrichedConsumer()) {
            // every answered request arrives; then the counts settle: records and /metrics agree for 2 s
            await().atMost(WAIT).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
                consumer.poll(Duration.ofMillis(300)).forEach(r -> add(enriched, r.value()));
                Set<String> missing = new LinkedHashSet<>(expected.keySet());
                missing.removeAll(enriched.keySet());
                assertThat(missing).as("answered requests not (yet) on the enriched topic, of %d", expected.size())
                        .isEmpty();
            });
            long[] settled = {-1, 0};
            await().atMost(WAIT).pollInterval(Duration.ofMillis(500)).until(() -> {
                consumer.poll(Duration.ofMillis(300)).forEach(r -> add(enriched, r.value()));
                long records = enriched.values().stream().mapToLong(List::size).sum();
                long counted = sum(scrape(metricsUrls), "vllm_requests_total", Map.of());
                if (counted != records || records != settled[0]) {
                    settled[0] = records;
                    settled[1] = System.nanoTime();
                    return false;
                }
                return System.nanoTime() - settled[1] > Duration.ofSeconds(2).toNanos();
            });
        }

        List<String> doubles = enriched.entrySet().stream().filter(e -> e.getValue().size() > 1)
                .map(Map.Entry::getKey).toList();
        assertThat(doubles).as("requests counted twice").isEmpty();
        Set<String> strangers = new LinkedHashSet<>(enriched.keySet());
        strangers.removeAll(expected.keySet());
        strangers.removeAll(maybe);
        assertThat(strangers).as("records of requests never sent").isEmpty();
        long prompt = 0;
        long completion = 0;
        for (Map.Entry<String, List<JsonNode>> e : enriched.entrySet()) {
            JsonNode record = e.getValue().get(0);
            prompt += record.path("prompt_tokens").asLong();
            completion += record.path("completion_tokens").asLong();
            Entry entry = expected.get(e.getKey());
            if (entry == null) {
                continue;
            }
            assertThat(record.path("outcome").asText()).as("outcome of %s: %s", e.getKey(), record)
                    .isEqualTo(entry.outcome());
            assertThat(record.path("proxy_host").asText()).as("proxy of %s", e.getKey()).isEqualTo(entry.hostname());
            assertThat(record.path("prompt_tokens").asLong()).as("prompt tokens of %s: %s", e.getKey(), record)
                    .isEqualTo(entry.promptTokens());
            assertThat(record.path("completion_tokens").asLong()).as("completion tokens of %s: %s", e.getKey(),
                    record).isEqualTo(entry.completionTokens());
        }
        List<PrometheusText> scrapes = scrape(metricsUrls);
        assertThat(sum(scrapes, "vllm_requests_total", Map.of())).as("requests").isEqualTo(enriched.size());
        assertThat(sum(scrapes, "vllm_prompt_tokens_total", Map.of())).as("prompt tokens").isEqualTo(prompt);
        assertThat(sum(scrapes, "vllm_completion_tokens_total", Map.of())).as("completion tokens")
                .isEqualTo(completion);
        long duplicates = sum(scrapes, "tokentap_aggregator_duplicates_total", Map.of());
        int unansweredCounted = enriched.size() - expected.size();
        System.out.printf("FIGURES scenario=\"%s\" answered_200=%d events_counted=%d enriched_records=%d "
                        + "unanswered=%d unanswered_counted=%d prompt_tokens=%d completion_tokens=%d "
                        + "duplicates_removed=%d lost=0 double=0 %s%n", scenario, expected.size(), enriched.size(),
                enriched.size(), maybe.size(), unansweredCounted, prompt, completion, duplicates, note);
        return new AnsweredFigures(expected.size(), maybe.size(), unansweredCounted, prompt, completion, duplicates);
    }

    private KafkaConsumer<String, String> enrichedConsumer() {
        Map<String, Object> props = new HashMap<>();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "ledger-check-" + System.nanoTime());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
                new StringDeserializer());
        consumer.subscribe(List.of(Topics.ENRICHED));
        return consumer;
    }

    private static Map<String, Long> count(Map<String, Entry> entries, Function<Entry, String> key) {
        Map<String, Long> counts = new TreeMap<>();
        entries.values().forEach(e -> counts.merge(key.apply(e), 1L, Long::sum));
        return counts;
    }

    private List<PrometheusText> scrape(List<String> metricsUrls) throws IOException, InterruptedException {
        List<PrometheusText> scrapes = new ArrayList<>();
        for (String url : metricsUrls) {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(url))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as("GET %s", url).isEqualTo(200);
            scrapes.add(PrometheusText.parse(response.body()));
        }
        return scrapes;
    }

    private static long sum(List<PrometheusText> scrapes, String name, Map<String, String> labels) {
        return scrapes.stream().mapToLong(s -> s.sum(name, labels)).sum();
    }

    /** Every committed enriched record, by request id; waits for at least {@code expected} of them. */
    private Map<String, List<JsonNode>> enrichedByRequestId(int expected) {
        Map<String, List<JsonNode>> byRequestId = new LinkedHashMap<>();
        int[] seen = {0};
        try (KafkaConsumer<String, String> consumer = enrichedConsumer()) {
            await().atMost(WAIT).until(() -> {
                consumer.poll(Duration.ofMillis(500)).forEach(r -> {
                    add(byRequestId, r.value());
                    seen[0]++;
                });
                return seen[0] >= expected;
            });
            // anything beyond the expected count would be a request counted twice
            consumer.poll(Duration.ofSeconds(1)).forEach(r -> add(byRequestId, r.value()));
        }
        return byRequestId;
    }

    private static void add(Map<String, List<JsonNode>> byRequestId, String value) {
        try {
            JsonNode record = JSON.readTree(value);
            byRequestId.computeIfAbsent(record.path("request_id").asText(), id -> new ArrayList<>()).add(record);
        } catch (IOException e) {
            throw new AssertionError("unreadable enriched record " + value, e);
        }
    }
}
