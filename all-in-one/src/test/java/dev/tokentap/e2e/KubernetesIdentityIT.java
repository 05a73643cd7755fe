package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.aggregator.k8s.InformerPodDirectory;
import dev.tokentap.event.EnrichedUsageEvent;
import dev.tokentap.event.EnrichedUsageEventCodec;
import dev.tokentap.event.Topics;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.SimTokenizer;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.apps.ReplicaSetBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSetBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kubernetes identity end to end: two workloads in two namespaces (pods whose IPs are loopback addresses, known to
 * the aggregator through fabric8's mock API server) call through tap-proxy with the OpenAI SDK; the real broker
 * carries their usage, and {@code /metrics} must count each under its namespace and workload, exactly.
 */
@ExtendWith(KafkaExtension.class)
@EnableKubernetesMockClient(crud = true)
class KubernetesIdentityIT {

    static final String FRONTEND_IP = "127.0.0.2";
    static final String SCORER_IP = "127.0.0.3";

    KubernetesClient kubernetes;

    @TempDir
    Path stateDir;

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void stopEverything() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    @Test
    void shouldCountEachWorkloadUnderItsNamespaceAndName(TestKafka kafka) throws Exception {
        // given a Deployment in team-a and a StatefulSet in team-b, one pod each
        var deployment = kubernetes.apps().deployments().inNamespace("team-a").resource(new DeploymentBuilder()
                .withNewMetadata().withName("chat-frontend").withUid(uid()).endMetadata().build()).create();
        var replicaSet = kubernetes.apps().replicaSets().inNamespace("team-a").resource(new ReplicaSetBuilder()
                .withNewMetadata().withName("chat-frontend-6b7f9c8d5").withUid(uid())
                .withOwnerReferences(owner(deployment)).endMetadata().build()).create();
        pod("team-a", "chat-frontend-6b7f9c8d5-k2j4h", FRONTEND_IP, replicaSet);
        var statefulSet = kubernetes.apps().statefulSets().inNamespace("team-b").resource(new StatefulSetBuilder()
                .withNewMetadata().withName("batch-scorer").withUid(uid()).endMetadata().build()).create();
        pod("team-b", "batch-scorer-0", SCORER_IP, statefulSet);

        VllmSimulator sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1)).build()
                .start();
        toClose.add(sim::close);
        String model = sim.models().get(0);
        InformerPodDirectory pods = InformerPodDirectory.start(kubernetes, new InformerPodDirectory.Settings(
                List.of(), List.of(), Duration.ofMinutes(10)), Clock.systemUTC());
        Aggregator aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(), "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", stateDir.toString(), "--topic-partitions", "3"), pods);
        toClose.add(aggregator::close);
        TapProxy proxy = TapProxy.start(ProxyConfigs.loopback(sim.baseUrl(), kafka.bootstrapServers(),
                "--api-key-hash-secret", "k8s-identity-secret", "--proxy-host", "tap-k8s"));
        toClose.add(proxy::close);
        String metricsUrl = "http://127.0.0.1:" + aggregator.port() + "/metrics";
        await().atMost(Duration.ofSeconds(60)).until(() -> get("http://127.0.0.1:" + aggregator.port() + "/readyz")
                .statusCode() == 200);

        // when each workload's pod calls through the proxy
        String base = "http://127.0.0.1:" + proxy.port() + "/v1";
        Map<String, long[]> expected = new HashMap<>();
        expected.put("chat-frontend", chat(client(base, FRONTEND_IP), model, 3, 5));
        expected.put("batch-scorer", chat(client(base, SCORER_IP), model, 2, 7));

        // then /metrics counts each under its namespace and workload name, exactly
        Map<String, String> frontend = Map.of("namespace", "team-a", "client_name", "chat-frontend",
                "hostname", "tap-k8s", "model", model);
        Map<String, String> scorer = Map.of("namespace", "team-b", "client_name", "batch-scorer",
                "hostname", "tap-k8s", "model", model);
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
            PrometheusText metrics = PrometheusText.parse(get(metricsUrl).body());
            for (var entry : List.of(Map.entry("chat-frontend", frontend), Map.entry("batch-scorer", scorer))) {
                long[] e = expected.get(entry.getKey());
                assertThat(metrics.sum("vllm_prompt_tokens_total", entry.getValue())).as("prompt of %s",
                        entry.getKey()).isEqualTo(e[0]);
                assertThat(metrics.sum("vllm_completion_tokens_total", entry.getValue())).as("completion of %s",
                        entry.getKey()).isEqualTo(e[1]);
                assertThat(metrics.sum("vllm_requests_total", entry.getValue())).as("requests of %s",
                        entry.getKey()).isEqualTo(e[2]);
            }
            assertThat(metrics.sum("vllm_requests_total", Map.of("namespace", "unknown"))).isZero();
            assertThat(metrics.sum("tokentap_aggregator_pod_directory_synced", Map.of())).isEqualTo(1);
        });

        // and the enriched topic has one record per request, keyed by the workload, with the pod on it
        List<ConsumerRecord<String, byte[]>> enriched = readEnriched(kafka, 5);
        EnrichedUsageEventCodec codec = new EnrichedUsageEventCodec();
        assertThat(enriched).extracting(ConsumerRecord::key)
                .containsExactlyInAnyOrder("chat-frontend", "chat-frontend", "chat-frontend", "batch-scorer",
                        "batch-scorer");
        for (ConsumerRecord<String, byte[]> record : enriched) {
            EnrichedUsageEvent event = codec.decode(record.value());
            assertThat(event.client().clientName()).isEqualTo(record.key());
            assertThat(event.client().pod()).isEqualTo(record.key().equals("chat-frontend")
                    ? "chat-frontend-6b7f9c8d5-k2j4h" : "batch-scorer-0");
            assertThat(event.client().workloadKind()).isEqualTo(record.key().equals("chat-frontend")
                    ? "Deployment" : "StatefulSet");
        }
    }

    /** {@code requests} chat completions from one client, half streamed; returns {prompt, completion, requests}. */
    private long[] chat(OpenAIClient client, String model, int requests, int maxTokens) {
        String question = "how many tokens does my workload use";
        long prompt = SimTokenizer.chatPromptTokens(List.of(question));
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder()
                .model(model).addUserMessage(question).maxCompletionTokens(maxTokens).build();
        for (int i = 0; i < requests; i++) {
            if (i % 2 == 0) {
                ChatCompletion answer = client.chat().completions().create(params);
                assertThat(answer.usage()).isPresent();
            } else {
                try (StreamResponse<ChatCompletionChunk> stream =
                             client.chat().completions().createStreaming(params)) {
                    assertThat(stream.stream().count()).isPositive();
                }
            }
        }
        return new long[] {prompt * requests, (long) maxTokens * requests, requests};
    }

    private List<ConsumerRecord<String, byte[]>> readEnriched(TestKafka kafka, int count) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "enriched-reader-" + UUID.randomUUID());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<ConsumerRecord<String, byte[]>> records = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(Topics.ENRICHED));
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
                return records.size() >= count;
            });
        }
        return records;
    }

    private void pod(String namespace, String name, String ip, HasMetadata owner) {
        kubernetes.pods().inNamespace(namespace).resource(new PodBuilder()
                .withNewMetadata().withNamespace(namespace).withName(name).withUid(uid())
                .withOwnerReferences(owner(owner)).endMetadata()
                .withNewSpec().withServiceAccountName(name).withNodeName("node-1").endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip)
                .withStartTime(Instant.now().minusSeconds(60).toString()).endStatus()
                .build()).create();
    }

    private static io.fabric8.kubernetes.api.model.OwnerReference owner(HasMetadata owner) {
        return new OwnerReferenceBuilder().withApiVersion(owner.getApiVersion()).withKind(owner.getKind())
                .withName(owner.getMetadata().getName()).withUid(owner.getMetadata().getUid()).withController(true)
                .build();
    }

    private OpenAIClient client(String baseUrl, String localAddress) throws IOException {
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl(baseUrl)
                .apiKey("sk-" + localAddress)
                .maxRetries(0)
                .okHttpClient(new okhttp3.OkHttpClient.Builder()
                        .socketFactory(new BoundSocketFactory(localAddress))
                        .readTimeout(Duration.ofSeconds(30))
                        .build())
                .build();
        toClose.add(client::close);
        return client;
    }

    private HttpResponse<String> get(String url) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String uid() {
        return UUID.randomUUID().toString();
    }
}
