package dev.tokentap.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.marcnuri.helm.LintResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * deploy/ as a user installs it: the kustomize base and examples rendered by kubectl 1.32, the Helm chart linted
 * and rendered by Helm, and both checked for what a platform team requires: current Strimzi API, restricted pods,
 * pinned images, probes and resources, disruption budgets, no way around the proxy, and the same objects from
 * both install paths.
 */
class RenderedManifestsIT {

    private static final Set<String> WORKLOADS = Set.of("Deployment", "StatefulSet", "DaemonSet");

    private static List<JsonNode> base;
    private static List<JsonNode> sidecarExample;
    private static List<JsonNode> frontExample;
    private static List<JsonNode> namespacedRbac;
    private static List<JsonNode> helm;

    @BeforeAll
    static void render() {
        Path deploy = Manifests.deployDir();
        base = Renderers.kustomize(deploy.resolve("base"));
        sidecarExample = Renderers.kustomize(deploy.resolve("examples/vllm-with-tap-proxy"));
        frontExample = Renderers.kustomize(deploy.resolve("examples/tap-proxy-in-front-of-vllm"));
        namespacedRbac = Renderers.kustomize(deploy.resolve("examples/namespaced-rbac"));
        helm = Renderers.helmTemplate();
    }

    private static Map<String, List<JsonNode>> everything() {
        Map<String, List<JsonNode>> all = new LinkedHashMap<>();
        all.put("kustomize base", base);
        all.put("sidecar example", sidecarExample);
        all.put("proxy-in-front example", frontExample);
        all.put("namespaced-rbac example", namespacedRbac);
        all.put("helm chart", helm);
        return all;
    }

    @Test
    void shouldLintTheChartWithoutWarnings() {
        LintResult lint = Renderers.lint();

        assertThat(lint.isFailed()).as(String.valueOf(lint.getMessages())).isFalse();
        assertThat(lint.getMessages()).noneMatch(m -> m.contains("[WARNING]") || m.contains("[ERROR]"));
    }

    @Test
    void shouldRenderTheSameObjectsFromKustomizeAndHelm() {
        // a chart installs into a namespace Helm creates (--create-namespace); the base declares its own
        Set<String> fromKustomize = ids(base);
        fromKustomize.remove("Namespace/tokentap");

        assertThat(ids(helm)).isEqualTo(fromKustomize);
        assertThat(fromKustomize).contains("StatefulSet/tokentap-aggregator", "Kafka/tokentap",
                "KafkaNodePool/dual-role", "KafkaUser/tokentap-proxy", "KafkaUser/tokentap-aggregator",
                "KafkaUser/tokentap-billing", "KafkaTopic/tokentap.usage.v1", "ClusterRole/tokentap-aggregator",
                "PodMonitor/tokentap-aggregator", "PrometheusRule/tokentap", "ConfigMap/tokentap-grafana-dashboard",
                "PodDisruptionBudget/tokentap-aggregator");
    }

    @Test
    void shouldRenderTheSameSpecsFromKustomizeAndHelm() {
        Map<String, JsonNode> fromHelm = byId(helm);
        for (JsonNode object : base) {
            String id = Manifests.id(object);
            if (id.equals("Namespace/tokentap")) {
                continue;
            }
            JsonNode twin = fromHelm.get(id);
            assertThat(twin).as(id).isNotNull();
            if (object.has("spec")) {
                assertThat(twin.get("spec")).as(id + " spec").isEqualTo(object.get("spec"));
            }
            for (String field : List.of("rules", "roleRef", "subjects")) {
                if (object.has(field)) {
                    assertThat(twin.get(field)).as(id + " " + field).isEqualTo(object.get(field));
                }
            }
        }
        // the dashboard's JSON, compared parsed (Helm's block scalar drops the file's last newline)
        assertThat(dashboardIn(fromHelm.get("ConfigMap/tokentap-grafana-dashboard")))
                .isEqualTo(dashboardIn(byId(base).get("ConfigMap/tokentap-grafana-dashboard")))
                .isEqualTo(MonitoringQueries.dashboard());
        assertThat(byId(helm).get("ConfigMap/tokentap-grafana-dashboard").path("metadata").path("labels")
                .path("grafana_dashboard").asText()).isEqualTo("1");
    }

    @Test
    void shouldUseStrimzisV1ApiAndNoIgnoredAnnotations() {
        everything().forEach((source, objects) -> {
            for (JsonNode object : objects) {
                String apiVersion = object.path("apiVersion").asText();
                if (apiVersion.startsWith("kafka.strimzi.io/")) {
                    assertThat(apiVersion).as(source + " " + Manifests.id(object)).isEqualTo("kafka.strimzi.io/v1");
                }
                assertThat(object.path("metadata").path("annotations").has("strimzi.io/kraft")
                        || object.path("metadata").path("annotations").has("strimzi.io/node-pools"))
                        .as(source + " " + Manifests.id(object) + " annotations").isFalse();
            }
        });
        assertThat(Manifests.ofKind(base, "KafkaNodePool")).singleElement()
                .satisfies(pool -> assertThat(pool.path("spec").path("roles")).hasSize(2));
    }

    @Test
    void shouldRunEveryPodUnderTheRestrictedPodSecurityStandard() {
        everything().forEach((source, objects) -> {
            for (JsonNode workload : workloads(objects)) {
                String where = source + " " + Manifests.id(workload);
                JsonNode pod = workload.path("spec").path("template").path("spec");
                assertThat(pod.path("securityContext").path("runAsNonRoot").asBoolean()).as(where + " runAsNonRoot").isTrue();
                assertThat(pod.path("securityContext").path("seccompProfile").path("type").asText())
                        .as(where + " seccomp").isEqualTo("RuntimeDefault");
                assertThat(pod.path("hostNetwork").asBoolean(false)).as(where + " hostNetwork").isFalse();
                for (JsonNode container : pod.path("containers")) {
                    String c = where + " container " + container.path("name").asText();
                    JsonNode security = container.path("securityContext");
                    assertThat(security.path("allowPrivilegeEscalation").isBoolean()
                            && !security.path("allowPrivilegeEscalation").asBoolean()).as(c + " allowPrivilegeEscalation").isTrue();
                    assertThat(security.path("readOnlyRootFilesystem").asBoolean()).as(c + " readOnlyRootFilesystem").isTrue();
                    assertThat(texts(security.path("capabilities").path("drop"))).as(c + " drops").contains("ALL");
                    assertThat(security.path("capabilities").path("add").isMissingNode()).as(c + " adds nothing").isTrue();
                    int user = security.has("runAsUser") ? security.path("runAsUser").asInt()
                            : pod.path("securityContext").path("runAsUser").asInt(-1);
                    assertThat(user).as(c + " runs as a numeric non-root user").isPositive();
                }
            }
        });
    }

    @Test
    void shouldGiveTheAggregatorsStateVolumeToItsUser() {
        for (List<JsonNode> objects : List.of(base, helm)) {
            JsonNode statefulSet = byId(objects).get("StatefulSet/tokentap-aggregator");
            assertThat(statefulSet.path("spec").path("template").path("spec").path("securityContext").path("fsGroup").asInt())
                    .isEqualTo(65532);
            assertThat(statefulSet.path("spec").path("volumeClaimTemplates")).isNotEmpty();
        }
    }

    @Test
    void shouldProbeAndSizeEveryContainer() {
        everything().forEach((source, objects) -> {
            for (JsonNode workload : workloads(objects)) {
                for (JsonNode container : workload.path("spec").path("template").path("spec").path("containers")) {
                    String c = source + " " + Manifests.id(workload) + " container " + container.path("name").asText();
                    assertThat(container.has("readinessProbe") && container.has("livenessProbe")).as(c + " probes").isTrue();
                    JsonNode resources = container.path("resources");
                    assertThat(resources.path("requests").has("cpu") && resources.path("requests").has("memory"))
                            .as(c + " requests").isTrue();
                    assertThat(resources.path("limits").has("memory")).as(c + " memory limit").isTrue();
                }
            }
        });
        for (List<JsonNode> objects : List.of(base, helm)) {
            JsonNode aggregator = container(byId(objects).get("StatefulSet/tokentap-aggregator"), "aggregator");
            assertThat(aggregator.path("startupProbe").path("httpGet").path("path").asText()).isEqualTo("/readyz");
            assertThat(aggregator.path("startupProbe").path("failureThreshold").asInt()
                    * aggregator.path("startupProbe").path("periodSeconds").asInt())
                    .as("seconds a restore may take").isGreaterThanOrEqualTo(600);
        }
        assertThat(container(byId(sidecarExample).get("Deployment/vllm"), "vllm").has("startupProbe")).isTrue();
    }

    @Test
    void shouldPinEveryImageToAVersion() {
        everything().forEach((source, objects) -> {
            for (JsonNode workload : workloads(objects)) {
                for (JsonNode container : workload.path("spec").path("template").path("spec").path("containers")) {
                    String image = container.path("image").asText();
                    String tag = image.contains("@") ? image.substring(image.indexOf('@') + 1)
                            : image.substring(image.lastIndexOf('/') + 1).contains(":")
                            ? image.substring(image.lastIndexOf(':') + 1) : "";
                    assertThat(tag).as(source + " image " + image).isNotBlank().isNotEqualTo("latest");
                }
            }
        });
        assertThat(container(byId(Renderers.helmTemplate("aggregator.image.digest", "sha256:" + "ab".repeat(32)))
                .get("StatefulSet/tokentap-aggregator"), "aggregator").path("image").asText())
                .isEqualTo("tokentap/aggregator:0.1.0@sha256:" + "ab".repeat(32));
    }

    @Test
    void shouldLetNodeDrainsTakeOneAggregatorOrProxyAtATime() {
        for (List<JsonNode> objects : List.of(base, helm)) {
            assertThat(byId(objects).get("PodDisruptionBudget/tokentap-aggregator").path("spec").path("selector")
                    .path("matchLabels").path("app.kubernetes.io/name").asText()).isEqualTo("tokentap-aggregator");
        }
        assertThat(byId(frontExample).get("PodDisruptionBudget/tap-proxy").path("spec").path("maxUnavailable").asInt())
                .isEqualTo(1);
    }

    @Test
    void shouldBindVllmToLoopbackAndServeOnlyThroughTheProxyInTheSidecarExample() {
        JsonNode deployment = byId(sidecarExample).get("Deployment/vllm");
        List<String> args = texts(container(deployment, "vllm").path("args"));
        assertThat(args).containsSequence("--host", "127.0.0.1");
        assertThat(container(deployment, "vllm").path("ports").isMissingNode()).as("vLLM declares no port").isTrue();
        assertThat(env(container(deployment, "tap-proxy")).get("TOKENTAP_UPSTREAM")).isEqualTo("http://127.0.0.1:8000");

        JsonNode service = byId(sidecarExample).get("Service/vllm");
        assertThat(service.path("spec").path("ports")).allSatisfy(p -> assertThat(p.path("targetPort").asText()).isEqualTo("proxy"));
        assertThat(texts(container(deployment, "tap-proxy").path("ports").findValues("name"))).contains("proxy");

        JsonNode policy = byId(sidecarExample).get("NetworkPolicy/vllm-only-through-tap-proxy");
        assertThat(policy.path("spec").path("ingress").findValues("port").stream().map(JsonNode::asInt))
                .containsExactlyInAnyOrder(3000, 3001);
    }

    @Test
    void shouldAdmitOnlyTheProxiesToVllmInTheProxyInFrontExample() {
        JsonNode policy = byId(frontExample).get("NetworkPolicy/vllm-only-from-tap-proxy");
        assertThat(policy).isNotNull();
        assertThat(texts(policy.path("spec").path("policyTypes"))).contains("Ingress");
        JsonNode rules = policy.path("spec").path("ingress");
        assertThat(rules).hasSize(1);
        JsonNode from = rules.get(0).path("from");
        assertThat(from).as("every rule names its peers; an empty from admits everyone").hasSize(1);
        assertThat(from.get(0).has("namespaceSelector") || from.get(0).has("ipBlock")).isFalse();

        Map<String, String> admitted = strings(from.get(0).path("podSelector").path("matchLabels"));
        JsonNode proxy = byId(frontExample).get("Deployment/tap-proxy");
        assertThat(strings(proxy.path("spec").path("template").path("metadata").path("labels")))
                .as("the proxies carry the admitted labels").containsAllEntriesOf(admitted);
        assertThat(strings(policy.path("spec").path("podSelector").path("matchLabels")))
                .containsEntry("app.kubernetes.io/name", "vllm");
        assertThat(env(container(proxy, "tap-proxy")).get("TOKENTAP_UPSTREAM")).isEqualTo("http://vllm-direct:8000");
    }

    @Test
    void shouldShipTheSidecarSnippetAsTheExampleRunsIt() throws Exception {
        JsonNode snippet = Manifests.read(Renderers.chart().resolve("examples/tap-proxy-sidecar-values.yaml")).get(0);
        JsonNode example = byId(sidecarExample).get("Deployment/vllm").path("spec").path("template").path("spec");

        assertThat(snippet.path("extraContainers")).singleElement().isEqualTo(container(
                byId(sidecarExample).get("Deployment/vllm"), "tap-proxy"));
        Set<String> mounted = container(byId(sidecarExample).get("Deployment/vllm"), "tap-proxy").path("volumeMounts")
                .findValues("name").stream().map(JsonNode::asText).collect(Collectors.toSet());
        List<JsonNode> volumes = StreamSupport.stream(example.path("volumes").spliterator(), false)
                .filter(v -> mounted.contains(v.path("name").asText())).toList();
        assertThat(list(snippet.path("extraVolumes"))).containsExactlyInAnyOrderElementsOf(volumes);
        assertThat(Files.readString(Renderers.chart().resolve("README.md"))).contains("examples/tap-proxy-sidecar-values.yaml");
    }

    @Test
    void shouldLogInToKafkaFromEveryTokentapProcess() {
        List<JsonNode> containers = new ArrayList<>();
        containers.add(container(byId(base).get("StatefulSet/tokentap-aggregator"), "aggregator"));
        containers.add(container(byId(helm).get("StatefulSet/tokentap-aggregator"), "aggregator"));
        containers.add(container(byId(sidecarExample).get("Deployment/vllm"), "tap-proxy"));
        containers.add(container(byId(frontExample).get("Deployment/tap-proxy"), "tap-proxy"));
        for (JsonNode container : containers) {
            Map<String, String> env = env(container);
            assertThat(env).containsEntry("TOKENTAP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
                    .containsEntry("TOKENTAP_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
                    .containsKey("TOKENTAP_KAFKA_SASL_JAAS_CONFIG")
                    .containsEntry("TOKENTAP_KAFKA_SSL_TRUSTSTORE_TYPE", "PEM");
            assertThat(env.get("KAFKA_BOOTSTRAP_SERVERS")).endsWith(":9093");
        }
        JsonNode listener = byId(base).get("Kafka/tokentap").path("spec").path("kafka").path("listeners");
        assertThat(listener).singleElement().satisfies(l -> {
            assertThat(l.path("port").asInt()).isEqualTo(9093);
            assertThat(l.path("tls").asBoolean()).isTrue();
            assertThat(l.path("authentication").path("type").asText()).isEqualTo("scram-sha-512");
        });
        assertThat(byId(base).get("Kafka/tokentap").path("spec").path("kafka").path("authorization").path("type").asText())
                .isEqualTo("simple");
    }

    @Test
    void shouldRenderWithoutAStrimziClusterForABroughtKafka() {
        List<JsonNode> own = Renderers.helmTemplate("kafka.create", "false", "kafka.bootstrapServers", "kafka.example:9093");

        assertThat(ids(own)).doesNotContain("Kafka/tokentap", "KafkaNodePool/dual-role", "PodMonitor/tokentap-kafka-exporter")
                .contains("StatefulSet/tokentap-aggregator", "KafkaUser/tokentap-proxy");
        assertThat(env(container(byId(own).get("StatefulSet/tokentap-aggregator"), "aggregator")))
                .containsEntry("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9093");
    }

    // ---- helpers

    private static Set<String> ids(List<JsonNode> objects) {
        return objects.stream().map(Manifests::id).collect(Collectors.toCollection(TreeSet::new));
    }

    private static Map<String, JsonNode> byId(List<JsonNode> objects) {
        Map<String, JsonNode> map = new LinkedHashMap<>();
        objects.forEach(o -> map.put(Manifests.id(o), o));
        return map;
    }

    private static List<JsonNode> workloads(List<JsonNode> objects) {
        return objects.stream().filter(o -> WORKLOADS.contains(o.path("kind").asText())).toList();
    }

    private static JsonNode container(JsonNode workload, String name) {
        for (JsonNode container : workload.path("spec").path("template").path("spec").path("containers")) {
            if (name.equals(container.path("name").asText())) {
                return container;
            }
        }
        throw new AssertionError("no container " + name + " in " + Manifests.id(workload));
    }

    private static Map<String, String> env(JsonNode container) {
        Map<String, String> env = new LinkedHashMap<>();
        for (JsonNode variable : container.path("env")) {
            env.put(variable.path("name").asText(), variable.has("value") ? variable.path("value").asText() : "(from)");
        }
        return env;
    }

    private static JsonNode dashboardIn(JsonNode configMap) {
        try {
            return Manifests.JSON.readTree(configMap.path("data").path("tokentap.json").asText());
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    private static List<String> texts(JsonNode array) {
        return list(array).stream().map(JsonNode::asText).toList();
    }

    private static List<String> texts(List<JsonNode> nodes) {
        return nodes.stream().map(JsonNode::asText).toList();
    }

    private static List<JsonNode> list(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).toList();
    }

    private static Map<String, String> strings(JsonNode object) {
        Map<String, String> map = new LinkedHashMap<>();
        object.fields().forEachRemaining(e -> map.put(e.getKey(), e.getValue().asText()));
        return map;
    }
}
