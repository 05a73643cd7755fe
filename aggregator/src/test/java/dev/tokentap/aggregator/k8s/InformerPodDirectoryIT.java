package dev.tokentap.aggregator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSetBuilder;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.apps.ReplicaSetBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSetBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.CronJobBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The informer-backed directory against fabric8's Kubernetes mock server in CRUD mode: every object is created
 * through the client, as a controller would, and the directory must name each pod's workload.
 */
@EnableKubernetesMockClient(crud = true)
class InformerPodDirectoryIT {

    static final InformerPodDirectory.Settings SETTINGS = new InformerPodDirectory.Settings(List.of(),
            List.of("app", "team"), Duration.ofMinutes(10));

    KubernetesClient client;
    private InformerPodDirectory directory;

    @AfterEach
    void closeDirectory() {
        if (directory != null) {
            directory.close();
        }
    }

    @Test
    void shouldNameEveryKindOfWorkloadThroughOwnerReferences() {
        // given workloads whose ReplicaSet and Job names do not follow the naming rules, so only the watched
        // owners can name them
        var deployment = client.apps().deployments().inNamespace("search").resource(new DeploymentBuilder()
                .withNewMetadata().withName("ranker").withUid(uid()).endMetadata().build()).create();
        var replicaSet = client.apps().replicaSets().inNamespace("search").resource(new ReplicaSetBuilder()
                .withNewMetadata().withName("ranker-custom").withUid(uid()).withOwnerReferences(owner(deployment))
                .endMetadata().build()).create();
        pod("search", "ranker-custom-abcde", "10.1.0.1", replicaSet, Map.of("app", "ranker", "team", "search",
                "tier", "backend"));
        var statefulSet = client.apps().statefulSets().inNamespace("data").resource(new StatefulSetBuilder()
                .withNewMetadata().withName("db").withUid(uid()).endMetadata().build()).create();
        pod("data", "db-0", "10.1.0.2", statefulSet, Map.of());
        var daemonSet = client.apps().daemonSets().inNamespace("kube-system").resource(new DaemonSetBuilder()
                .withNewMetadata().withName("agent").withUid(uid()).endMetadata().build()).create();
        pod("kube-system", "agent-x7k2p", "10.1.0.3", daemonSet, Map.of());
        var cronJob = client.batch().v1().cronjobs().inNamespace("batch").resource(new CronJobBuilder()
                .withNewMetadata().withName("nightly").withUid(uid()).endMetadata().build()).create();
        var cronJobRun = client.batch().v1().jobs().inNamespace("batch").resource(new JobBuilder()
                .withNewMetadata().withName("nightly-manual").withUid(uid()).withOwnerReferences(owner(cronJob))
                .endMetadata().build()).create();
        pod("batch", "nightly-manual-q8w9e", "10.1.0.4", cronJobRun, Map.of());
        var job = client.batch().v1().jobs().inNamespace("batch").resource(new JobBuilder()
                .withNewMetadata().withName("migrate").withUid(uid()).endMetadata().build()).create();
        pod("batch", "migrate-z1x2c", "10.1.0.5", job, Map.of());
        pod("search", "debug", "10.1.0.6", null, Map.of());

        // when
        directory = startDirectory(client);

        // then
        long now = System.currentTimeMillis();
        assertThat(directory.lookup("10.1.0.1", now)).isEqualTo(new PodIdentity("search", "ranker-custom-abcde",
                "Deployment", "ranker", "ranker-custom-abcde-sa", "node-a",
                new java.util.TreeMap<>(Map.of("app", "ranker", "team", "search"))));
        assertThat(workload("10.1.0.2", now)).isEqualTo("StatefulSet/db in data");
        assertThat(workload("10.1.0.3", now)).isEqualTo("DaemonSet/agent in kube-system");
        assertThat(workload("10.1.0.4", now)).isEqualTo("CronJob/nightly in batch");
        assertThat(workload("10.1.0.5", now)).isEqualTo("Job/migrate in batch");
        assertThat(workload("10.1.0.6", now)).isEqualTo("Pod/debug in search");
        assertThat(directory.lookup("10.1.0.99", now)).isNull();
        assertThat(directory.replicaSetsReadable()).isTrue();
        assertThat(directory.jobsReadable()).isTrue();
    }

    @Test
    void shouldStillResolveAPodDeletedBeforeItsEventIsProcessed() {
        // given a pod the directory has seen
        directory = startDirectory(client);
        var statefulSet = client.apps().statefulSets().inNamespace("data").resource(new StatefulSetBuilder()
                .withNewMetadata().withName("db").withUid(uid()).endMetadata().build()).create();
        Pod pod = pod("data", "db-0", "10.2.0.1", statefulSet, Map.of());
        long sentWhileItRan = System.currentTimeMillis();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(directory.lookup("10.2.0.1", sentWhileItRan)).isNotNull());

        // when it is deleted before its event is looked up
        client.pods().resource(pod).delete();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(directory.lookup("10.2.0.1", System.currentTimeMillis() + 60_000)).isNull());

        // then the event it sent while it ran still names it
        assertThat(workload("10.2.0.1", sentWhileItRan)).isEqualTo("StatefulSet/db in data");
    }

    @Test
    void shouldResolveAReusedIpToThePodThatHeldItAtTheEventsTime() {
        // given an IP held by one pod, then, after it was deleted, by a pod of another workload
        directory = startDirectory(client);
        Instant firstStart = Instant.now().minusSeconds(600);
        Pod first = client.pods().inNamespace("team-a").resource(podSpec("team-a", "first", "10.3.0.1", null,
                Map.of(), firstStart)).create();
        await().atMost(Duration.ofSeconds(20)).until(() -> directory.lookup("10.3.0.1",
                firstStart.toEpochMilli() + 1) != null);
        client.pods().resource(first).delete();
        await().atMost(Duration.ofSeconds(20)).until(() -> directory.lookup("10.3.0.1",
                System.currentTimeMillis() + 60_000) == null);
        Instant secondStart = Instant.now().plusSeconds(1);
        client.pods().inNamespace("team-b").resource(podSpec("team-b", "second", "10.3.0.1", null, Map.of(),
                secondStart)).create();

        // then each event resolves to the pod that held the IP when the event started
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(workload("10.3.0.1", secondStart.toEpochMilli() + 1_000)).isEqualTo("Pod/second in team-b"));
        assertThat(workload("10.3.0.1", firstStart.toEpochMilli() + 1_000)).isEqualTo("Pod/first in team-a");
    }

    @Test
    void shouldNameByTheRulesWhenReplicaSetsAreForbidden() throws Exception {
        // given an API server that answers 403 to everything about ReplicaSets
        KubernetesMockServer server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new ForbiddingReplicaSets(), false);
        server.init();
        try (KubernetesClient restricted = server.createClient()) {
            var deployment = restricted.apps().deployments().inNamespace("search").resource(new DeploymentBuilder()
                    .withNewMetadata().withName("ranker").withUid(uid()).endMetadata().build()).create();
            OwnerReference replicaSet = new OwnerReferenceBuilder().withApiVersion("apps/v1").withKind("ReplicaSet")
                    .withName("ranker-5d8f7b9c6d").withUid(uid()).withController(true).build();
            restricted.pods().inNamespace("search").resource(new PodBuilder(podSpec("search",
                            "ranker-5d8f7b9c6d-abcde", "10.4.0.1", null, Map.of("pod-template-hash", "5d8f7b9c6d"),
                            Instant.now().minusSeconds(60)))
                    .editMetadata().withOwnerReferences(replicaSet).endMetadata().build()).create();
            restricted.batch().v1().jobs().inNamespace("batch").resource(new JobBuilder()
                    .withNewMetadata().withName("nightly-29412345").withUid(uid()).endMetadata().build()).create();
            assertThat(deployment).isNotNull();

            // when
            directory = startDirectory(server.createClient());

            // then
            assertThat(directory.replicaSetsReadable()).isFalse();
            assertThat(directory.jobsReadable()).isTrue();
            assertThat(workload("10.4.0.1", System.currentTimeMillis())).isEqualTo("Deployment/ranker in search");
        } finally {
            server.destroy();
        }
    }

    @Test
    void shouldKeepAnsweringFromTheLastKnownStateWhenTheApiServerGoesAway() {
        // given a directory that has seen a pod
        KubernetesMockServer server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        server.init();
        try {
            KubernetesClient own = server.createClient();
            own.pods().inNamespace("data").resource(podSpec("data", "db-0", "10.5.0.1", null, Map.of(),
                    Instant.now().minusSeconds(60))).create();
            directory = startDirectory(own);
            await().atMost(Duration.ofSeconds(20)).until(() -> directory.lookup("10.5.0.1",
                    System.currentTimeMillis()) != null);
            long current = directory.currentAsOf();
            assertThat(current).isPositive();

            // when the API server goes away
            server.destroy();

            // then the directory says it is out of sync, but still names the pod it knew
            await().atMost(Duration.ofSeconds(30)).until(() -> !directory.synced());
            assertThat(workload("10.5.0.1", System.currentTimeMillis())).isEqualTo("Pod/db-0 in data");
            assertThat(directory.currentAsOf()).isLessThanOrEqualTo(System.currentTimeMillis());
        } finally {
            server.destroy();
        }
    }

    @Test
    void shouldStartWithoutWaitingForAnApiServerThatDoesNotAnswer() {
        // given a client of an API server nobody listens for
        KubernetesClient nowhere = new KubernetesClientBuilder().withConfig(new ConfigBuilder()
                .withMasterUrl("https://127.0.0.1:1").withRequestRetryBackoffLimit(0).build()).build();

        // when the directory starts (a generous bound only guards against hanging the build)
        directory = assertTimeoutPreemptively(Duration.ofSeconds(30),
                () -> InformerPodDirectory.start(nowhere, SETTINGS, Clock.systemUTC()));

        // then it is not synced and knows no pod, and keeps trying
        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5)).until(() -> !directory.synced());
        assertThat(directory.lookup("10.6.0.1", System.currentTimeMillis())).isNull();
        assertThat(directory.currentAsOf()).isEqualTo(-1);
    }

    /** A CRUD server that forbids ReplicaSets, as a role without that rule would. */
    static final class ForbiddingReplicaSets extends KubernetesCrudDispatcher {
        @Override
        public MockResponse dispatch(RecordedRequest request) {
            if (request.getPath().contains("/replicasets")) {
                return new MockResponse().setResponseCode(403).setBody("{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                        + "\"status\":\"Failure\",\"reason\":\"Forbidden\",\"code\":403,"
                        + "\"message\":\"replicasets.apps is forbidden\"}");
            }
            return super.dispatch(request);
        }
    }

    private InformerPodDirectory startDirectory(KubernetesClient using) {
        InformerPodDirectory started = InformerPodDirectory.start(using, SETTINGS, Clock.systemUTC());
        await().atMost(Duration.ofSeconds(30)).until(started::synced);
        return started;
    }

    private String workload(String ip, long at) {
        PodIdentity pod = directory.lookup(ip, at);
        return pod == null ? null : pod.workloadKind() + "/" + pod.workload() + " in " + pod.namespace();
    }

    private Pod pod(String namespace, String name, String ip, HasMetadata owner, Map<String, String> labels) {
        return client.pods().inNamespace(namespace).resource(podSpec(namespace, name, ip, owner, labels,
                Instant.now().minusSeconds(60))).create();
    }

    private static Pod podSpec(String namespace, String name, String ip, HasMetadata owner,
                               Map<String, String> labels, Instant started) {
        PodBuilder pod = new PodBuilder()
                .withNewMetadata().withNamespace(namespace).withName(name).withUid(uid()).withLabels(labels)
                .endMetadata()
                .withNewSpec().withServiceAccountName(name + "-sa").withNodeName("node-a").endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip).withStartTime(started.toString()).endStatus();
        if (owner != null) {
            pod.editMetadata().withOwnerReferences(owner(owner)).endMetadata();
        }
        return pod.build();
    }

    private static OwnerReference owner(HasMetadata owner) {
        return new OwnerReferenceBuilder().withApiVersion(owner.getApiVersion()).withKind(owner.getKind())
                .withName(owner.getMetadata().getName()).withUid(owner.getMetadata().getUid()).withController(true)
                .build();
    }

    private static String uid() {
        return UUID.randomUUID().toString();
    }
}
