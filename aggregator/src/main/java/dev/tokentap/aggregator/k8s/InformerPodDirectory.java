package dev.tokentap.aggregator.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.apps.ReplicaSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.Informable;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.BasicItemStore;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pod directory of a process in (or pointed at) a cluster: fabric8 informers list and watch pods, and the
 * ReplicaSets and Jobs their workloads are named through, and keep a {@link PodTimeline} by pod IP. Never calls the
 * API per lookup. When the API server can't be reached or a watch breaks, the informers retry with backoff while
 * lookups keep answering from the last known state.
 */
public final class InformerPodDirectory implements PodDirectory {

    private static final Logger LOG = LoggerFactory.getLogger(InformerPodDirectory.class);
    /** How often tombstones are expired and the directory's currency is noted. */
    static final Duration TICK = Duration.ofSeconds(5);
    /** How long pods wait for their owners' first list before they are listed anyway. */
    static final Duration OWNERS_FIRST = Duration.ofSeconds(10);
    private static final String BY_OWNER = "owner";

    /**
     * What to watch.
     *
     * @param namespaces         namespaces to watch; empty for all
     * @param podLabels          pod labels to carry into the identity
     * @param tombstoneRetention how long a deleted pod still resolves events from before its deletion
     */
    public record Settings(List<String> namespaces, List<String> podLabels, Duration tombstoneRetention) {
        public Settings {
            namespaces = List.copyOf(namespaces);
            podLabels = List.copyOf(podLabels);
            Objects.requireNonNull(tombstoneRetention, "tombstoneRetention");
        }
    }

    private final KubernetesClient client;
    private final Settings settings;
    private final Clock clock;
    private final PodTimeline timeline;
    private final List<SharedIndexInformer<Pod>> podInformers = new CopyOnWriteArrayList<>();
    private final List<SharedIndexInformer<ReplicaSet>> replicaSetInformers = new CopyOnWriteArrayList<>();
    private final List<SharedIndexInformer<Job>> jobInformers = new CopyOnWriteArrayList<>();
    // set, with the two flags, by the start-up task before any informer runs
    private volatile Workloads workloads;
    private volatile boolean informersCreated;
    private volatile boolean closed;
    private final ScheduledExecutorService ticker;
    private final AtomicLong currentAsOf = new AtomicLong(-1);
    private final AtomicBoolean broken = new AtomicBoolean();
    private final PodHandler podHandler = new PodHandler();
    private volatile boolean replicaSetsReadable;
    private volatile boolean jobsReadable;

    private InformerPodDirectory(KubernetesClient client, Settings settings, Clock clock) {
        this.client = client;
        this.settings = settings;
        this.clock = clock;
        this.timeline = new PodTimeline(settings.tombstoneRetention().toMillis());
        this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "pod-directory-tick");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Starts watching and returns at once, whether or not the API server answers; {@link #synced()} turns true once
     * every informer has listed.
     *
     * @param client closed with the directory
     */
    public static InformerPodDirectory start(KubernetesClient client, Settings settings, Clock clock) {
        InformerPodDirectory directory = new InformerPodDirectory(client, settings, clock);
        // the permission checks are API calls that may hang on an unreachable server: never on the caller's thread
        directory.ticker.execute(directory::startInformers);
        return directory;
    }

    private void startInformers() {
        replicaSetsReadable = readable("replicasets");
        jobsReadable = readable("jobs");
        workloads = new Workloads(replicaSetsReadable ? lookup(replicaSetInformers) : null,
                jobsReadable ? lookup(jobInformers) : null);
        if (closed) {
            return;
        }
        List<String> scopes = settings.namespaces().isEmpty() ? java.util.Collections.singletonList(null)
                : settings.namespaces();
        for (String ns : scopes) {
            if (replicaSetsReadable) {
                replicaSetInformers.add(informer(ns == null ? client.apps().replicaSets().inAnyNamespace()
                        : client.apps().replicaSets().inNamespace(ns), "replicasets", new OwnerHandler<>()));
            }
            if (jobsReadable) {
                jobInformers.add(informer(ns == null ? client.batch().v1().jobs().inAnyNamespace()
                        : client.batch().v1().jobs().inNamespace(ns), "jobs", new OwnerHandler<>()));
            }
            SharedIndexInformer<Pod> pods = informer(ns == null ? client.pods().inAnyNamespace()
                    : client.pods().inNamespace(ns), "pods", podHandler);
            pods.itemStore(new BasicItemStore<Pod>(Cache::metaNamespaceKeyFunc) {
                @Override
                public Pod put(String key, Pod pod) {
                    return super.put(key, slim(pod));
                }
            });
            pods.removeNamespaceIndex();
            pods.addIndexers(Map.of(BY_OWNER, InformerPodDirectory::ownerKeys));
            podInformers.add(pods);
        }
        informersCreated = true;
        List<CompletableFuture<Void>> owners = new ArrayList<>();
        for (SharedIndexInformer<?> informer : replicaSetInformers) {
            owners.add(started(informer));
        }
        for (SharedIndexInformer<?> informer : jobInformers) {
            owners.add(started(informer));
        }
        // pods after their owners have listed, so the first pass names workloads through them; not forever though:
        // a failing owner list must not keep pods out
        CompletableFuture.allOf(owners.toArray(CompletableFuture[]::new))
                .completeOnTimeout(null, OWNERS_FIRST.toMillis(), TimeUnit.MILLISECONDS)
                .whenComplete((ok, error) -> podInformers.forEach(this::started));
        ticker.scheduleWithFixedDelay(this::tick, TICK.toMillis(), TICK.toMillis(), TimeUnit.MILLISECONDS);
        LOG.info("pod directory watching namespaces={} pod_labels={} tombstone_retention_s={}", scopeText(),
                settings.podLabels(), settings.tombstoneRetention().toSeconds());
    }

    private CompletableFuture<Void> started(SharedIndexInformer<?> informer) {
        return informer.start().toCompletableFuture().whenComplete((ok, error) -> {
            if (error == null && synced()) {
                LOG.info("pod directory synced namespaces={} pod_ips={}", scopeText(), timeline.size());
            }
        });
    }

    /** The informer index of pods by owner, {@code namespace/name}. */
    private static List<String> ownerKeys(Pod pod) {
        List<io.fabric8.kubernetes.api.model.OwnerReference> owners = pod.getMetadata().getOwnerReferences();
        if (owners == null || owners.isEmpty()) {
            return List.of();
        }
        List<String> keys = new ArrayList<>(owners.size());
        for (io.fabric8.kubernetes.api.model.OwnerReference owner : owners) {
            keys.add(pod.getMetadata().getNamespace() + "/" + owner.getName());
        }
        return keys;
    }

    private <T extends HasMetadata> SharedIndexInformer<T> informer(Informable<T> source, String what,
                                                                     ResourceEventHandler<T> handler) {
        SharedIndexInformer<T> informer = source.runnableInformer(0);
        informer.exceptionHandler((started, error) -> {
            // keep retrying (fabric8 backs off); lookups serve the last known state meanwhile
            if (broken.compareAndSet(false, true)) {
                LOG.warn("pod directory cannot list or watch {}; serving the last known state, retrying error={}",
                        what, error.toString());
            }
            return true;
        });
        if (handler != null) {
            informer.addEventHandler(handler);
        }
        return informer;
    }

    /**
     * Whether the role may list {@code resource}: a 403 means the workload is named by the naming rules instead,
     * said once here. Any other failure (API server unreachable) counts as readable; the informer retries.
     */
    private boolean readable(String resource) {
        String ns = settings.namespaces().isEmpty() ? null : settings.namespaces().get(0);
        try {
            var options = new ListOptionsBuilder().withLimit(1L).build();
            if (resource.equals("replicasets")) {
                if (ns == null) client.apps().replicaSets().inAnyNamespace().list(options);
                else client.apps().replicaSets().inNamespace(ns).list(options);
            } else {
                if (ns == null) client.batch().v1().jobs().inAnyNamespace().list(options);
                else client.batch().v1().jobs().inNamespace(ns).list(options);
            }
            return true;
        } catch (KubernetesClientException e) {
            if (e.getCode() == 401 || e.getCode() == 403) {
                LOG.warn("kubernetes {} not readable (HTTP {}); naming workloads by the {} rule instead", resource,
                        e.getCode(), resource.equals("replicasets") ? "pod-template-hash label"
                                : "job-name label and <cronjob>-<minute> Job name");
                return false;
            }
            LOG.debug("kubernetes {} permission check failed error={}", resource, e.toString());
            return true;
        }
    }

    private static <T extends HasMetadata> BiFunction<String, String, HasMetadata> lookup(
            List<SharedIndexInformer<T>> informers) {
        return (namespace, name) -> {
            String key = namespace + "/" + name;
            for (SharedIndexInformer<T> informer : informers) {
                T found = informer.getStore().getByKey(key);
                if (found != null) {
                    return found;
                }
            }
            return null;
        };
    }

    @Override
    public PodIdentity lookup(String ip, long epochMillis) {
        return ip == null ? null : timeline.lookup(ip, epochMillis);
    }

    @Override
    public boolean synced() {
        if (!informersCreated) {
            return false;
        }
        for (SharedIndexInformer<?> informer : all()) {
            if (!informer.hasSynced() || !informer.isWatching()) {
                return false;
            }
        }
        return true;
    }

    @Override
    public long currentAsOf() {
        if (synced()) {
            currentAsOf.set(clock.millis());
        }
        return currentAsOf.get();
    }

    @Override
    public boolean watchesKubernetes() {
        return true;
    }

    /** Whether workloads are named through watched ReplicaSets (else by the {@code pod-template-hash} rule). */
    boolean replicaSetsReadable() {
        return replicaSetsReadable;
    }

    /** Whether workloads are named through watched Jobs (else by the {@code job-name} rule). */
    boolean jobsReadable() {
        return jobsReadable;
    }

    @Override
    public void close() {
        closed = true;
        ticker.shutdownNow();
        for (SharedIndexInformer<?> informer : all()) {
            informer.stop();
        }
        client.close();
    }

    private void tick() {
        try {
            if (synced()) {
                currentAsOf.set(clock.millis());
                if (broken.compareAndSet(true, false)) {
                    LOG.info("pod directory watching again");
                }
            }
            timeline.expire(clock.millis());
        } catch (RuntimeException e) {
            LOG.warn("pod directory tick failed error={}", e.toString());
        }
    }

    private List<SharedIndexInformer<?>> all() {
        List<SharedIndexInformer<?>> all = new ArrayList<>(replicaSetInformers);
        all.addAll(jobInformers);
        all.addAll(podInformers);
        return all;
    }

    private String scopeText() {
        return settings.namespaces().isEmpty() ? "all" : String.join(",", settings.namespaces());
    }

    PodIdentity identityOf(Pod pod) {
        Workloads.Workload workload = workloads.of(pod);
        SortedMap<String, String> labels = new TreeMap<>();
        Map<String, String> podLabels = pod.getMetadata().getLabels();
        if (podLabels != null) {
            for (String name : settings.podLabels()) {
                String value = podLabels.get(name);
                if (value != null) {
                    labels.put(name, value);
                }
            }
        }
        return new PodIdentity(pod.getMetadata().getNamespace(), pod.getMetadata().getName(), workload.kind(),
                workload.name(), pod.getSpec() == null ? null : pod.getSpec().getServiceAccountName(),
                pod.getSpec() == null ? null : pod.getSpec().getNodeName(), labels);
    }

    /**
     * The part of a pod the directory reads, which is all the informer's cache keeps: a full pod (containers,
     * env, conditions, managed fields) is several times larger, and a fleet's worth of them would dominate the heap.
     */
    static Pod slim(Pod pod) {
        ObjectMeta meta = pod.getMetadata();
        PodSpec spec = pod.getSpec();
        PodStatus status = pod.getStatus();
        return new PodBuilder()
                .withNewMetadata()
                .withNamespace(meta.getNamespace()).withName(meta.getName()).withUid(meta.getUid())
                .withResourceVersion(meta.getResourceVersion()).withCreationTimestamp(meta.getCreationTimestamp())
                .withLabels(meta.getLabels()).withOwnerReferences(meta.getOwnerReferences())
                .endMetadata()
                .withNewSpec()
                .withServiceAccountName(spec == null ? null : spec.getServiceAccountName())
                .withNodeName(spec == null ? null : spec.getNodeName())
                .withHostNetwork(spec == null ? null : spec.getHostNetwork())
                .endSpec()
                .withNewStatus()
                .withPhase(status == null ? null : status.getPhase())
                .withPodIP(status == null ? null : status.getPodIP())
                .withPodIPs(status == null ? null : status.getPodIPs())
                .withStartTime(status == null ? null : status.getStartTime())
                .endStatus()
                .build();
    }

    /** The pod's IPs; none for a host-network pod (its IP is the node's, shared by every such pod). */
    static Set<String> ipsOf(Pod pod) {
        Set<String> ips = new LinkedHashSet<>();
        if (pod.getSpec() != null && Boolean.TRUE.equals(pod.getSpec().getHostNetwork())) {
            return ips;
        }
        PodStatus status = pod.getStatus();
        if (status == null) {
            return ips;
        }
        if (status.getPodIPs() != null) {
            for (PodIP ip : status.getPodIPs()) {
                if (ip.getIp() != null && !ip.getIp().isEmpty()) {
                    ips.add(ip.getIp());
                }
            }
        }
        if (status.getPodIP() != null && !status.getPodIP().isEmpty()) {
            ips.add(status.getPodIP());
        }
        return ips;
    }

    /** A pod that has finished (Succeeded, Failed) no longer holds its IP, though the object may stay. */
    static boolean finished(Pod pod) {
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        return "Succeeded".equals(phase) || "Failed".equals(phase);
    }

    /** Since when the pod holds its IP: its start time, else its creation; unknown → since ever. */
    static long since(Pod pod) {
        String start = pod.getStatus() == null ? null : pod.getStatus().getStartTime();
        String created = pod.getMetadata().getCreationTimestamp();
        for (String text : new String[] {start, created}) {
            if (text != null) {
                try {
                    return Instant.parse(text).toEpochMilli();
                } catch (DateTimeParseException e) {
                    // try the next one
                }
            }
        }
        return Long.MIN_VALUE;
    }

    /**
     * A ReplicaSet or Job that appears (or changes owner) after pods that belong to it: the pods are named again,
     * since their first naming may have had to fall back to the naming rules.
     */
    private final class OwnerHandler<T extends HasMetadata> implements ResourceEventHandler<T> {
        @Override
        public void onAdd(T owner) {
            reindexPodsOf(owner);
        }

        @Override
        public void onUpdate(T oldOwner, T newOwner) {
            if (!Objects.equals(oldOwner.getMetadata().getOwnerReferences(),
                    newOwner.getMetadata().getOwnerReferences())) {
                reindexPodsOf(newOwner);
            }
        }

        @Override
        public void onDelete(T owner, boolean deletedFinalStateUnknown) {
            // its pods keep the name they were given
        }

        private void reindexPodsOf(T owner) {
            String key = owner.getMetadata().getNamespace() + "/" + owner.getMetadata().getName();
            for (SharedIndexInformer<Pod> informer : podInformers) {
                if (!informer.isRunning()) {
                    continue;
                }
                for (Pod pod : informer.getIndexer().byIndex(BY_OWNER, key)) {
                    podHandler.apply(null, pod);
                }
            }
        }
    }

    /** Keeps the timeline in step with the pod informer's events. */
    private final class PodHandler implements ResourceEventHandler<Pod> {
        @Override
        public void onAdd(Pod pod) {
            apply(null, pod);
        }

        @Override
        public void onUpdate(Pod oldPod, Pod newPod) {
            apply(oldPod, newPod);
        }

        @Override
        public void onDelete(Pod pod, boolean deletedFinalStateUnknown) {
            long now = clock.millis();
            for (String ip : ipsOf(pod)) {
                timeline.release(ip, pod.getMetadata().getUid(), now);
            }
        }

        private void apply(Pod oldPod, Pod pod) {
            try {
                String uid = pod.getMetadata().getUid();
                long now = clock.millis();
                Set<String> ips = finished(pod) ? Set.of() : ipsOf(pod);
                if (oldPod != null) {
                    for (String ip : ipsOf(oldPod)) {
                        if (!ips.contains(ip)) {
                            timeline.release(ip, uid, now);
                        }
                    }
                }
                if (ips.isEmpty()) {
                    return;
                }
                PodIdentity identity = identityOf(pod);
                long since = since(pod);
                for (String ip : ips) {
                    timeline.hold(ip, uid, identity, since);
                }
            } catch (RuntimeException e) {
                LOG.warn("pod not indexed namespace={} pod={} error={}", pod.getMetadata().getNamespace(),
                        pod.getMetadata().getName(), e.toString());
            }
        }
    }
}
