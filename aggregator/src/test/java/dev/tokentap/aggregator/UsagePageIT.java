package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The usage page at the aggregator's {@code /}, in a real headless Chromium (Debian's {@code chromium} and
 * {@code chromium-driver}, which {@code .ci/run} installs): the numbers it shows per client and model over the range
 * are the API's, summed exactly, cost included. Leaves a screenshot in {@code target/usage-page.png}.
 */
class UsagePageIT {

    @RegisterExtension
    static final KafkaExtension KAFKA = new KafkaExtension();

    static final Duration WAIT = Duration.ofSeconds(90);
    static final long HOUR = 3_600_000;
    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    static final ObjectMapper JSON = JsonMapper.builder().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .build();

    private final HttpClient http = HttpClient.newHttpClient();
    private TestKafka kafka;
    private Aggregator aggregator;
    private ChromeDriver browser;

    @AfterEach
    void stop() {
        if (browser != null) {
            browser.quit();
        }
        if (aggregator != null) {
            aggregator.close();
        }
    }

    @Test
    void shouldShowTheApisUsageAndCostPerClientAndModel(@TempDir Path dir) throws Exception {
        assertThat(CHROMIUM).as("Debian's chromium (apt-get install chromium chromium-driver)").isExecutable();
        assertThat(CHROMEDRIVER).as("Debian's chromium-driver").isExecutable();

        // given an aggregator that counted three hours of several clients and models, one of them without price
        Path prices = Files.writeString(dir.resolve("prices.yaml"), """
                currency: USD
                prices:
                  - model: meta-llama/Llama-3.1-8B-Instruct
                    prompt_per_million: 0.10
                    cached_prompt_per_million: 0.05
                    completion_per_million: 0.40
                  - model: "Qwen/*"
                    prompt_per_million: 0.30
                    completion_per_million: 1.20
                """);
        aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(),
                "--topic", "usage-page", "--application-id", "agg-page", "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", dir.resolve("state").toString(), "--topic-partitions", "2", "--kubernetes", "off",
                "--prices", prices.toString()), PodDirectory.NONE, Clock.systemUTC());
        assertThat(aggregator.awaitRunning(WAIT)).isTrue();
        long now = System.currentTimeMillis();
        long from = Math.floorDiv(now, HOUR) * HOUR - 2 * HOUR;
        long to = from + 3 * HOUR;
        List<UsageEvent> events = events(from, now);
        produce(events);
        String query = "from=" + Instant.ofEpochMilli(from) + "&to=" + Instant.ofEpochMilli(to) + "&step=1h";
        String api = "/api/v1/usage?" + query + "&group_by=client_name,model";
        await().atMost(WAIT).pollInterval(Duration.ofMillis(500)).until(() -> requests(get(api)) == events.size());
        Map<String, Map<String, String>> expected = perClientAndModel(JSON.readTree(get(api).body()));

        // when the page is opened on that range
        browser = chromium();
        browser.get("http://127.0.0.1:" + aggregator.port() + "/?" + query);
        await().atMost(WAIT).until(() -> "true".equals(browser.findElement(By.tagName("body"))
                .getDomAttribute("data-loaded")));

        // then each client and model shows the API's sums
        Map<String, Map<String, String>> shown = new TreeMap<>();
        for (WebElement row : browser.findElements(By.cssSelector("#usage tbody tr"))) {
            Map<String, String> cells = new TreeMap<>();
            for (WebElement cell : row.findElements(By.tagName("td"))) {
                cells.put(cell.getDomAttribute("data-field"), cell.getText());
            }
            shown.put(cells.remove("client") + "/" + cells.remove("model"), cells);
        }
        assertThat(shown).isEqualTo(expected);
        assertThat(browser.findElements(By.cssSelector("#chart"))).hasSize(1);
        Object bars = browser.executeScript("return Chart.getChart('chart').data.datasets.length");
        assertThat(((Number) bars).intValue()).isEqualTo(expected.size());
        Path screenshot = Path.of("target", "usage-page.png");
        Files.createDirectories(screenshot.getParent());
        Files.write(screenshot, browser.getScreenshotAs(OutputType.BYTES));
    }

    private ChromeDriver chromium() {
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--user-data-dir=" + Path.of("target", "chromium-profile-" + UUID.randomUUID()).toAbsolutePath());
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().build();
        return new ChromeDriver(service, options);
    }

    /** What the page should show per client/model: the API's rows summed over the hours, exactly. */
    private static Map<String, Map<String, String>> perClientAndModel(JsonNode answer) {
        Map<String, long[]> counts = new TreeMap<>();
        Map<String, BigDecimal[]> decimals = new TreeMap<>();
        String[] fields = {"request_count", "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens",
                "total_tokens", "unpriced_requests"};
        for (JsonNode row : answer.path("rows")) {
            String key = row.path("client_name").asText() + "/" + row.path("model").asText();
            long[] c = counts.computeIfAbsent(key, k -> new long[fields.length]);
            for (int i = 0; i < fields.length; i++) {
                c[i] += row.path(fields[i]).asLong();
            }
            BigDecimal[] d = decimals.computeIfAbsent(key, k -> new BigDecimal[] {BigDecimal.ZERO, null});
            d[0] = d[0].add(row.path("audio_seconds").decimalValue());
            JsonNode usd = row.path("cost").path("USD");
            if (!usd.isMissingNode()) {
                d[1] = (d[1] == null ? BigDecimal.ZERO : d[1]).add(new BigDecimal(usd.asText()));
            }
        }
        Map<String, Map<String, String>> expected = new TreeMap<>();
        counts.forEach((key, c) -> {
            Map<String, String> cells = new TreeMap<>();
            for (int i = 0; i < fields.length; i++) {
                cells.put(fields[i], Long.toString(c[i]));
            }
            BigDecimal[] d = decimals.get(key);
            cells.put("audio_seconds", dev.tokentap.event.Cost.plain(d[0]));
            cells.put("cost", d[1] == null ? "–" : dev.tokentap.event.Cost.plain(d[1]) + " USD");
            expected.put(key, cells);
        });
        return expected;
    }

    private static List<UsageEvent> events(long from, long now) {
        Random random = new Random(11);
        List<String> clients = List.of("chat-frontend", "ranker", "batch-summaries", "10.42.3.17");
        List<String> models = List.of("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-8B", "mistral-small");
        List<UsageEvent> events = new ArrayList<>();
        for (int i = 0; i < 150; i++) {
            String client = clients.get(random.nextInt(clients.size()));
            String model = models.get(Math.min(random.nextInt(models.size() + 1), models.size() - 1) == 2
                    && i % 4 != 0 ? 0 : random.nextInt(models.size()));
            long prompt = 50 + random.nextInt(3000);
            long cached = random.nextInt(2) == 0 ? 0 : prompt / 2;
            long completion = 10 + random.nextInt(800);
            long startedAt = from + (long) (random.nextDouble() * (now - from));
            events.add(UsageEvent.builder().eventId(UUID.randomUUID().toString()).route("/v1/chat/completions")
                    .outcome(i % 17 == 0 ? "upstream_error" : "ok").status(200).model(model)
                    .clientAddress("10.9.0." + clients.indexOf(client)).tenant(client).proxyHost("proxy-page")
                    .startedAt(startedAt).endedAt(startedAt + 300).promptTokens(prompt).cachedTokens(cached)
                    .completionTokens(completion).totalTokens(prompt + completion)
                    .reasoningTokens(model.startsWith("Qwen") ? completion / 3 : null).usageSource("reported")
                    .build());
        }
        return events;
    }

    private void produce(List<UsageEvent> events) throws Exception {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        try (KafkaProducer<String, UsageEvent> producer = new KafkaProducer<>(props, new StringSerializer(),
                new UsageEventSerde().serializer())) {
            for (UsageEvent event : events) {
                producer.send(new ProducerRecord<>("usage-page", event.clientAddress(), event));
            }
            producer.flush();
        }
    }

    private long requests(HttpResponse<String> response) throws Exception {
        if (response.statusCode() != 200) {
            return -1;
        }
        long n = 0;
        for (JsonNode row : JSON.readTree(response.body()).path("rows")) {
            n += row.path("request_count").asLong();
        }
        return n;
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + aggregator.port() + path))
                .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
