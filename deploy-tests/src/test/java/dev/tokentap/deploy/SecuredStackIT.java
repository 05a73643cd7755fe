package dev.tokentap.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * deploy/'s Kafka security on a real broker, with the real jars. The embedded broker runs SASL/SCRAM-SHA-512 with
 * ACLs enforced, as the Strimzi listener in deploy/base does; the topics and the KafkaUsers' ACLs are read from
 * deploy/base/kafka and put on the broker as the Topic and User Operators would. tap-proxy.jar and
 * aggregator.jar are started as processes with their logins in {@code TOKENTAP_KAFKA_*} variables only.
 *
 * <p>It shows that metering works end to end under those rights, that nobody without the right login can write
 * what billing reads, and that every metric the dashboard and the alerts query is served on a live /metrics.
 */
class SecuredStackIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String USAGE = "tokentap.usage.v1";
    private static final String ENRICHED = "tokentap.usage.enriched.v1";
    private static final String HOURLY = "tokentap.usage.hourly.v1";

    /**
     * Metrics the dashboard or the rules query that no tokentap process serves yet, and why; each must be absent
     * from /metrics, so that the entry is removed (and the metric checked) once it is served.
     */
    static final Map<String, String> PENDING = Map.of();
    /** Metrics the dashboard or the rules query that another exporter serves, and which one. */
    static final Map<String, String> EXTERNAL = Map.of(
            "kafka_consumergroup_lag", "Strimzi's Kafka Exporter (Kafka.spec.kafkaExporter in deploy/base/kafka)");

    @TempDir
    static Path work;

    private static EmbeddedKafka kafka;
    private static final Map<String, String> PASSWORDS = new LinkedHashMap<>();
    private static VllmSimulator sim;
    private static JarProcess aggregator;
    private static JarProcess proxy;
    private static int aggregatorPort;
    private static int proxyPort;
    private static int proxyAdminPort;
    private static String model;
    /** Requests the tests sent through the proxy, each of which the aggregator must count once. */
    private static final AtomicLong SENT = new AtomicLong();

    @BeforeAll
    static void startTheSecuredStack() throws Exception {
        kafka = EmbeddedKafka.builder().scramSha512("admin", password()).build().start();
        Path kafkaManifests = Manifests.deployDir().resolve("base/kafka");
        try (Admin admin = Admin.create(kafka.clientProperties())) {
            // the Topic Operator's part: the declared topics, fewer partitions for a small test
            List<NewTopic> topics = Manifests.ofKind(Manifests.read(kafkaManifests.resolve("topics.yaml")), "KafkaTopic")
                    .stream().map(t -> new NewTopic(Manifests.name(t), Math.min(2, t.path("spec").path("partitions").asInt(1)),
                            (short) 1)).toList();
            admin.createTopics(topics).all().get(30, TimeUnit.SECONDS);
            // the User Operator's part: a SCRAM login per KafkaUser, and its ACLs as written
            List<UserScramCredentialAlteration> logins = new ArrayList<>();
            for (JsonNode user : Manifests.ofKind(Manifests.read(kafkaManifests.resolve("users.yaml")), "KafkaUser")) {
                String name = Manifests.name(user);
                PASSWORDS.put(name, password());
                logins.add(new UserScramCredentialUpsertion(name,
                        new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), PASSWORDS.get(name)));
                admin.createAcls(StrimziAcls.of(user)).all().get(30, TimeUnit.SECONDS);
            }
            admin.alterUserScramCredentials(logins).all().get(30, TimeUnit.SECONDS);
        }
        assertThat(PASSWORDS).containsKeys("tokentap-proxy", "tokentap-aggregator", "tokentap-billing");

        sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1)).build().start();
        model = sim.models().get(0);

        aggregatorPort = freePort();
        // a price for every model, so that the dashboard's cost panels have their counter
        Path prices = Files.writeString(work.resolve("prices.yaml"),
                "currency: USD\nprices:\n  - model: \"*\"\n    prompt_per_million: 0.10\n"
                        + "    completion_per_million: 0.40\n");
        aggregator = JarProcess.start("aggregator", JarProcess.jar("tokentap.aggregatorJar"), List.of(
                        "--listen", "127.0.0.1", "--port", Integer.toString(aggregatorPort),
                        "--state-dir", work.resolve("aggregator-state").toString(), "--kubernetes", "off",
                        "--prices", prices.toString()),
                kafkaLogin("tokentap-aggregator"), work);
        proxyPort = freePort();
        proxyAdminPort = freePort();
        proxy = JarProcess.start("tap-proxy", JarProcess.jar("tokentap.tapProxyJar"), List.of(
                        "--upstream", sim.baseUrl(), "--listen", "127.0.0.1",
                        "--port", Integer.toString(proxyPort), "--admin-port", Integer.toString(proxyAdminPort),
                        "--spool-dir", work.resolve("spool").toString()),
                kafkaLogin("tokentap-proxy"), work);
        aggregator.awaitOk(URI.create("http://127.0.0.1:" + aggregatorPort + "/readyz"), WAIT);
        proxy.awaitOk(URI.create("http://127.0.0.1:" + proxyAdminPort + "/readyz"), WAIT);
    }

    @AfterAll
    static void stopTheStack() {
        for (AutoCloseable c : new AutoCloseable[] {proxy, aggregator, sim, kafka}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                // keep closing the rest
            }
        }
    }

    @Test
    void shouldMeterEveryRequestEndToEndWithEachRolesOwnLogin() throws Exception {
        // given what the aggregator has counted so far, once it has counted all that other tests sent
        awaitEverythingSentCounted();
        long tokensBefore = aggregatorMetrics().sum("vllm_total_tokens_total", Map.of());

        // when requests go through the proxy, plain and streamed
        long tokens = 0;
        for (int i = 0; i < 3; i++) {
            tokens += chat(5 + i, false);
        }
        for (int i = 0; i < 2; i++) {
            tokens += chat(7 + i, true);
        }

        // then the proxy published with its login and the aggregator counted with its own, exactly
        long expected = tokensBefore + tokens;
        await().atMost(WAIT).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
            assertThat(proxyMetrics().sum("tokentap_proxy_events_published_total", Map.of())).isEqualTo(SENT.get());
            assertThat(aggregatorMetrics().sum("vllm_total_tokens_total", Map.of())).isEqualTo(expected);
        });
        assertThat(proxyMetrics().sum("tokentap_proxy_publish_failures_total", Map.of())).isZero();
        awaitEverythingSentCounted();
    }

    @ParameterizedTest
    @ValueSource(strings = {ENRICHED, HOURLY})
    void shouldNotServeAClientThatDoesNotLogIn(String topic) {
        Map<String, Object> anonymous = new HashMap<>(kafka.clientProperties());
        anonymous.keySet().removeAll(Set.of("security.protocol", "sasl.mechanism", "sasl.jaas.config"));

        // the broker drops connections that do not start with a SASL handshake: no metadata, no write
        assertThatThrownBy(() -> send(anonymous, topic)).hasCauseInstanceOf(TimeoutException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {ENRICHED, HOURLY, "tokentap-aggregator-usage-totals-changelog"})
    void shouldRefuseTheProxysLoginOnWhatTheAggregatorWrites(String topic) {
        assertThatThrownBy(() -> send(login("tokentap-proxy"), topic)).hasCauseInstanceOf(TopicAuthorizationException.class);
    }

    @Test
    void shouldRefuseTheProxysLoginToReadTheUsageLog() {
        Map<String, Object> config = consumerConfig(login("tokentap-proxy"), "tokentap-proxy-reader");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            consumer.subscribe(List.of(USAGE));
            assertThatThrownBy(() -> consumer.poll(Duration.ofSeconds(10)))
                    .isInstanceOfAny(GroupAuthorizationException.class, TopicAuthorizationException.class);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {USAGE, ENRICHED, HOURLY})
    void shouldLetBillingReadButNeverWrite(String topic) {
        // with no Write anywhere, the producer is refused already when it asks for a producer id
        assertThatThrownBy(() -> send(login("tokentap-billing"), topic)).hasCauseInstanceOf(AuthorizationException.class);
    }

    @Test
    void shouldLetBillingReadTheEnrichedRecords() throws Exception {
        // given a metered request
        chat(4, false);

        // then a billing consumer in a tokentap-billing group reads its enriched record
        Map<String, Object> config = consumerConfig(login("tokentap-billing"), "tokentap-billing-invoices");
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            consumer.subscribe(List.of(ENRICHED));
            List<ConsumerRecord<String, String>> records = new ArrayList<>();
            await().atMost(WAIT).until(() -> {
                consumer.poll(Duration.ofMillis(500)).forEach(records::add);
                return !records.isEmpty();
            });
            assertThat(records.get(0).value()).contains("\"event_id\"");
        }
        awaitEverythingSentCounted();
    }

    @Test
    void shouldServeEveryMetricAndLabelTheDashboardAndTheAlertsUse() throws Exception {
        // given traffic of every kind the histograms need (a stream for the time to first token)
        chat(3, false);
        chat(3, true);
        JsonNode rule = MonitoringQueries.prometheusRule();
        List<String> queries = new ArrayList<>(MonitoringQueries.dashboardQueries(MonitoringQueries.dashboard()));
        queries.addAll(MonitoringQueries.ruleExpressions(rule));
        Set<String> used = MonitoringQueries.metricNames(queries);
        used.removeAll(MonitoringQueries.recordedNames(rule));

        // when both processes are scraped once the traffic is counted
        awaitEverythingSentCounted();
        List<PrometheusText.Sample> samples = new ArrayList<>(proxyMetrics().samples());
        samples.addAll(aggregatorMetrics().samples());
        Set<String> served = samples.stream().map(PrometheusText.Sample::name).collect(Collectors.toCollection(TreeSet::new));

        // then every metric is served, or listed as pending or external with its reason
        Set<String> missing = new TreeSet<>(used);
        missing.removeAll(served);
        assertThat(missing).as("queried but not on /metrics").containsExactlyInAnyOrderElementsOf(
                used.stream().filter(n -> PENDING.containsKey(n) || EXTERNAL.containsKey(n)).toList());
        assertThat(used).as("every pending or external entry is still queried").containsAll(PENDING.keySet())
                .containsAll(EXTERNAL.keySet());
        // (asked this way round: the list may be empty, the served metrics never are)
        assertThat(PENDING.keySet()).as("served now: move it out of PENDING").doesNotContainAnyElementsOf(served);
        assertThat(served).as("the cost counter of the dashboard's cost panels, with a price list")
                .contains("vllm_cost_total");
        assertThat(used).as("the recording rules' sources").contains("vllm_prompt_tokens_total",
                "vllm_completion_tokens_total", "vllm_total_tokens_total");

        // and every label a query matches, groups by or lists is on one of the metrics it reads, or is one that
        // Prometheus adds to every scraped series (the PodMonitors' target labels)
        for (String query : queries) {
            Set<String> metrics = MonitoringQueries.metricNames(List.of(query));
            metrics.retainAll(served);
            if (metrics.isEmpty()) {
                continue; // reads only pending or external metrics, or recorded ones
            }
            Set<String> labels = new TreeSet<>(TARGET_LABELS);
            samples.stream().filter(s -> metrics.contains(s.name())).forEach(s -> labels.addAll(s.labels().keySet()));
            assertThat(labels).as("labels of " + metrics + " for: " + query)
                    .containsAll(MonitoringQueries.labelNames(query));
        }
    }

    /** Labels Prometheus gives every series a PodMonitor scrapes. */
    private static final Set<String> TARGET_LABELS = Set.of("namespace", "pod", "instance", "job", "container", "endpoint");

    // ---- helpers

    /** Waits until the aggregator has counted every request the tests sent, so that one test's traffic is settled. */
    private static void awaitEverythingSentCounted() {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).untilAsserted(() ->
                assertThat(aggregatorMetrics().sum("vllm_requests_total", Map.of())).isEqualTo(SENT.get()));
    }

    /** Sends one chat completion through the proxy and returns the total tokens vLLM (the simulator) reported. */
    private static long chat(int maxTokens, boolean stream) throws IOException, InterruptedException {
        String body = "{\"model\":\"" + model + "\",\"max_tokens\":" + maxTokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"how many tokens is a deployment\"}]"
                + (stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "") + "}";
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + proxyPort + "/v1/chat/completions"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer sk-deploy-test")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        SENT.incrementAndGet();
        String json = response.body();
        if (stream) {
            json = response.body().lines().filter(l -> l.startsWith("data: {") && l.contains("\"usage\":{"))
                    .reduce((a, b) -> b).orElseThrow().substring("data: ".length());
        }
        return Manifests.JSON.readTree(json).path("usage").path("total_tokens").asLong();
    }

    private static RecordMetadata send(Map<String, Object> client, String topic) throws Exception {
        Map<String, Object> config = new HashMap<>(client);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        // long enough for a login and a metadata round trip on a busy machine, short for the refusals
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 4000);
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 10000);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
            return producer.send(new ProducerRecord<>(topic, "forged", "{\"event_id\":\"forged\"}")).get(30, TimeUnit.SECONDS);
        }
    }

    private static Map<String, Object> consumerConfig(Map<String, Object> client, String group) {
        Map<String, Object> config = new HashMap<>(client);
        config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        return config;
    }

    private static Map<String, Object> login(String user) {
        return new HashMap<>(kafka.clientProperties(user, PASSWORDS.get(user)));
    }

    /** A KafkaUser's login as the jars take it: Kafka client properties as TOKENTAP_KAFKA_* variables. */
    private static Map<String, String> kafkaLogin(String user) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrapServers());
        kafka.clientProperties(user, PASSWORDS.get(user)).forEach((key, value) -> {
            if (!key.equals("bootstrap.servers")) {
                env.put("TOKENTAP_KAFKA_" + key.toUpperCase(java.util.Locale.ROOT).replace('.', '_'), value.toString());
            }
        });
        return env;
    }

    private static PrometheusText aggregatorMetrics() throws IOException, InterruptedException {
        return PrometheusText.parse(get("http://127.0.0.1:" + aggregatorPort + "/metrics"));
    }

    private static PrometheusText proxyMetrics() throws IOException, InterruptedException {
        return PrometheusText.parse(get("http://127.0.0.1:" + proxyAdminPort + "/metrics"));
    }

    private static String get(String url) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    private static String password() {
        byte[] bytes = new byte[16];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    private static int freePort() throws IOException {
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            return socket.getLocalPort();
        }
    }
}
