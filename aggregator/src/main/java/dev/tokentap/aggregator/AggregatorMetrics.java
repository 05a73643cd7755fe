package dev.tokentap.aggregator;

import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.aggregator.topology.LatencyHistogram;
import dev.tokentap.aggregator.topology.UsageLabels;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.aggregator.topology.UsageTotals;
import dev.tokentap.aggregator.topology.UsageValues;
import dev.tokentap.event.UsageEventDecodeException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.Unit;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;
import org.apache.kafka.streams.KafkaStreams;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The aggregator's metrics: meter names and tag keys in one place, the usage counter families built from the
 * totals store at scrape time, and the aggregator's own meters. The registry is passed in.
 */
public final class AggregatorMetrics implements UsageTopology.Observer {

    // usage families: the names of vllm-token-stats, so its dashboards carry over; exposed with a _total suffix
    public static final String PROMPT_TOKENS = "vllm_prompt_tokens";
    public static final String COMPLETION_TOKENS = "vllm_completion_tokens";
    public static final String TOTAL_TOKENS = "vllm_total_tokens";
    public static final String CACHED_PROMPT_TOKENS = "vllm_cached_prompt_tokens";
    public static final String REQUESTS = "vllm_requests";
    public static final String REASONING_TOKENS = "vllm_reasoning_tokens";
    public static final String AUDIO_SECONDS = "vllm_audio_seconds";
    /** Counter: the cost of requests at the price list, per namespace, client, model and currency. */
    public static final String COST = "vllm_cost";
    /** Counter: requests whose model had no price while there was a price list, per namespace, client, model. */
    public static final String UNPRICED_REQUESTS = "vllm_unpriced_requests";
    public static final String TAG_CURRENCY = "currency";
    /** Histogram: time from the proxy receiving a request to the exchange ending, per namespace, client, model. */
    public static final String REQUEST_DURATION = "vllm_request_duration_seconds";
    /** Histogram: time from the proxy receiving a streamed request to its first body byte. */
    public static final String TIME_TO_FIRST_TOKEN = "vllm_time_to_first_token_seconds";

    public static final String TAG_NAMESPACE = "namespace";
    public static final String TAG_CLIENT_NAME = "client_name";
    public static final String TAG_FULL_PATH = "full_path";
    public static final String TAG_HOSTNAME = "hostname";
    public static final String TAG_MODEL = "model";
    public static final String TAG_OUTCOME = "outcome";

    // the aggregator's own meters, in Micrometer's dotted form; Prometheus sees tokentap_aggregator_…
    public static final String DECODE_FAILURES = "tokentap.aggregator.decode.failures";
    public static final String TAG_REASON = "reason";
    /** Counter: events dropped because their {@code event_id} was already counted. */
    public static final String DUPLICATES = "tokentap.aggregator.duplicates";
    public static final String STREAMS_STATE = "tokentap.aggregator.streams.state";
    public static final String TAG_STATE = "state";
    /** Gauge: 1 while the pod directory is in sync with the Kubernetes API (always 1 without Kubernetes). */
    public static final String POD_DIRECTORY_SYNCED = "tokentap.aggregator.pod.directory.synced";
    /** Gauge: seconds since the pod directory was last known to be current. */
    public static final String POD_DIRECTORY_AGE = "tokentap.aggregator.pod.directory.age";
    /** Counter: events counted as requests without their usage, which was invalid, by {@link #TAG_REASON}. */
    public static final String INVALID_USAGE = "tokentap.aggregator.invalid.usage";
    /** Counter: changelog records read back into a local store, per store: 0 after a restart that kept its state. */
    public static final String RESTORED_RECORDS = "tokentap.aggregator.state.restored.records";
    public static final String TAG_STORE = "store";
    /** Counter: events that arrived after their hour's final record was written; each goes into a late record. */
    public static final String HOURLY_LATE = "tokentap.aggregator.hourly.late.events";
    /** Counter: events whose {@code started_at} was too far ahead of the aggregator's clock to count in its hour. */
    public static final String HOURLY_FUTURE = "tokentap.aggregator.hourly.future.events";
    /** Gauge: label sets in this instance's part of the totals store (collected with the usage families). */
    public static final String USAGE_SERIES = "tokentap_aggregator_usage_series";

    /** Prometheus text exposition 0.0.4, the default. */
    public static final String TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    /** OpenMetrics 1.0 text, for scrapers that ask for it. */
    public static final String OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    private static final Set<String> DECODE_REASONS = Set.of(UsageEventDecodeException.MALFORMED,
            UsageEventDecodeException.MISSING_FIELD, UsageEventDecodeException.UNSUPPORTED_VERSION,
            UsageEventDecodeException.EMPTY);
    private static final String OTHER_REASON = "other";

    private static final Logger LOG = LoggerFactory.getLogger(AggregatorMetrics.class);

    private final PrometheusMeterRegistry registry;
    /** Why the last render of /metrics failed; null while it renders. */
    private volatile String renderFailure;
    private final Map<String, Counter> decodeFailures = new ConcurrentHashMap<>();
    private final Counter duplicates;
    private final Map<String, Counter> invalidUsage = new ConcurrentHashMap<>();
    private final Map<String, Counter> restored = new ConcurrentHashMap<>();
    private final Counter late;
    private final Counter future;

    public AggregatorMetrics(PrometheusMeterRegistry registry) {
        this.registry = registry;
        // registered at 0 so that rate() and alerts work before the first failure
        for (String reason : DECODE_REASONS) {
            decodeFailureCounter(reason);
        }
        decodeFailureCounter(OTHER_REASON);
        duplicates = Counter.builder(DUPLICATES)
                .description("Usage events dropped because an event with the same event_id was already counted")
                .register(registry);
        for (String reason : UsageValues.REASONS) {
            invalidUsage.put(reason, Counter.builder(INVALID_USAGE)
                    .description("Usage events counted as requests without their usage, which was invalid "
                            + "(negative, fractional, not a number, too large, or flagged by the proxy)")
                    .tag(TAG_REASON, reason)
                    .register(registry));
        }
        for (String store : List.of(UsageTopology.TOTALS_STORE, UsageTopology.EVENT_IDS_STORE,
                UsageTopology.ADMITTED_MODELS_STORE, UsageTopology.ADMITTED_CLIENTS_STORE,
                UsageTopology.HOURLY_STORE, UsageTopology.HOURLY_STATE_STORE)) {
            restored(store, 0);
        }
        late = Counter.builder(HOURLY_LATE)
                .description("Usage events read after their hour's final record was written; each is counted in a "
                        + "late record of its hour")
                .register(registry);
        future = Counter.builder(HOURLY_FUTURE)
                .description("Usage events whose started_at was too far ahead of the aggregator's clock; counted in "
                        + "the hour the aggregator read them")
                .register(registry);
    }

    @Override
    public void lateEvent() {
        late.increment();
    }

    @Override
    public void futureEvent() {
        future.increment();
    }

    /** Counts one event dropped as a copy of one already counted. */
    @Override
    public void duplicate() {
        duplicates.increment();
    }

    /** Counts {@code records} changelog records restored into {@code store} (a store of the topology: bounded). */
    public void restored(String store, long records) {
        restored.computeIfAbsent(store, s -> Counter.builder(RESTORED_RECORDS)
                .description("Changelog records read back into a local state store; stays 0 across a restart that "
                        + "kept its state directory")
                .tag(TAG_STORE, s)
                .register(registry)).increment(records);
    }

    /** Counts one event counted without its usage; an unknown reason is dropped (the set is fixed). */
    @Override
    public void invalidUsage(String reason) {
        Counter counter = invalidUsage.get(reason);
        if (counter != null) {
            counter.increment();
        }
    }

    /** Counts one usage record that could not be decoded. */
    @Override
    public void decodeFailure(String reason) {
        decodeFailureCounter(reason != null && DECODE_REASONS.contains(reason) ? reason : OTHER_REASON).increment();
    }

    /** One gauge per Streams state, 1 for the current one: an operator sees RUNNING or REBALANCING at a glance. */
    public void bindStreamsState(Supplier<KafkaStreams.State> state) {
        for (KafkaStreams.State s : KafkaStreams.State.values()) {
            Gauge.builder(STREAMS_STATE, () -> state.get() == s ? 1 : 0)
                    .description("1 for the Kafka Streams state this instance is in, else 0")
                    .tag(TAG_STATE, s.name())
                    .register(registry);
        }
    }

    /**
     * The pod directory's health: {@value #POD_DIRECTORY_SYNCED} (0/1) and {@value #POD_DIRECTORY_AGE} in seconds
     * (how stale it may be; -1 before it ever synced).
     */
    public void bindPodDirectory(PodDirectory pods, Clock clock) {
        Gauge.builder(POD_DIRECTORY_SYNCED, () -> pods.synced() ? 1 : 0)
                .description("1 while the pod directory is in sync with the Kubernetes API, else 0")
                .register(registry);
        Gauge.builder(POD_DIRECTORY_AGE, () -> {
                    long asOf = pods.currentAsOf();
                    return asOf < 0 ? -1 : Math.max(0, clock.millis() - asOf) / 1000.0;
                })
                .description("Seconds since the pod directory was last known to be current; -1 before its first sync")
                .baseUnit("seconds")
                .register(registry);
    }

    /**
     * Serves the usage counter families from {@code totals} at every scrape. An empty Optional (store not
     * queryable right now) leaves the families out of that scrape.
     */
    public void bindUsageTotals(Supplier<Optional<SortedMap<UsageLabels, UsageTotals>>> totals) {
        registry.getPrometheusRegistry().register(new UsageCollector(totals));
    }

    /** The Prometheus text exposition (format 0.0.4) of everything registered. */
    public String scrape() {
        return scrape(null).body();
    }

    /**
     * Everything registered, in OpenMetrics text if {@code accept} asks for it (as Prometheus does by default),
     * else in Prometheus text 0.0.4.
     *
     * @throws IllegalStateException when it cannot be rendered (the totals cannot be read); {@link #renders()}
     *                               says false from then until a render succeeds
     */
    public Scrape scrape(String accept) {
        String contentType = accept != null && accept.contains("application/openmetrics-text")
                ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
        try {
            Scrape scrape = new Scrape(contentType, registry.scrape(contentType));
            if (renderFailure != null) {
                LOG.info("metrics render again");
                renderFailure = null;
            }
            return scrape;
        } catch (RuntimeException e) {
            if (renderFailure == null) {
                LOG.warn("metrics cannot be rendered error={}", e.toString());
            }
            renderFailure = e.toString();
            throw new IllegalStateException("metrics cannot be rendered: " + e.getMessage(), e);
        }
    }

    /**
     * Whether {@code /metrics} renders, for readiness: true until a render fails; from then on each call tries a
     * render itself, so that readiness comes back without waiting for the next scrape.
     */
    public boolean renders() {
        if (renderFailure == null) {
            return true;
        }
        try {
            scrape(null);
            return true;
        } catch (IllegalStateException e) {
            return false;
        }
    }

    /** A scrape's body and the content type to send it with. */
    public record Scrape(String contentType, String body) {
    }

    private Counter decodeFailureCounter(String reason) {
        return decodeFailures.computeIfAbsent(reason, r -> Counter.builder(DECODE_FAILURES)
                .description("Usage records that could not be decoded and went to the dead-letter topic")
                .tag(TAG_REASON, r)
                .register(registry));
    }

    /** Builds the usage counter families from a snapshot of the local totals. */
    static final class UsageCollector implements MultiCollector {
        private final Supplier<Optional<SortedMap<UsageLabels, UsageTotals>>> totals;

        UsageCollector(Supplier<Optional<SortedMap<UsageLabels, UsageTotals>>> totals) {
            this.totals = totals;
        }

        @Override
        public MetricSnapshots collect() {
            Optional<SortedMap<UsageLabels, UsageTotals>> snapshot = totals.get();
            if (snapshot.isEmpty()) {
                return new MetricSnapshots();
            }
            SortedMap<UsageLabels, UsageTotals> local = snapshot.get();
            List<io.prometheus.metrics.model.snapshots.MetricSnapshot> families = new ArrayList<>();
            families.add(counter(PROMPT_TOKENS, "Prompt tokens reported by vLLM", local, UsageTotals::promptTokens));
            families.add(counter(COMPLETION_TOKENS, "Completion tokens reported by vLLM", local,
                    UsageTotals::completionTokens));
            families.add(counter(TOTAL_TOKENS, "Total tokens reported by vLLM (prompt + completion when absent)",
                    local, UsageTotals::totalTokens));
            families.add(counter(CACHED_PROMPT_TOKENS, "Prompt tokens served from vLLM's prefix cache", local,
                    UsageTotals::cachedTokens));
            families.add(counter(REASONING_TOKENS, "Reasoning tokens reported by vLLM (part of the completion tokens)",
                    local, UsageTotals::reasoningTokens));
            families.add(decimalCounter(AUDIO_SECONDS, "Seconds of audio transcribed or translated", local,
                    t -> t.audioSeconds().doubleValue()));
            families.add(requests(local));
            families.add(cost(local));
            families.add(unpriced(local));
            families.add(histogram(REQUEST_DURATION, "Time from the proxy receiving a request to its end",
                    local, UsageTotals::duration, LatencyHistogram.DURATION_BOUNDS));
            families.add(histogram(TIME_TO_FIRST_TOKEN,
                    "Time from the proxy receiving a streamed request to the first token it passed on",
                    local, UsageTotals::ttft, LatencyHistogram.TTFT_BOUNDS));
            families.add(GaugeSnapshot.builder()
                    .name(USAGE_SERIES)
                    .help("Label sets this instance holds in its part of the totals store")
                    .dataPoint(GaugeDataPointSnapshot.builder().value(local.size()).build())
                    .build());
            return new MetricSnapshots(families);
        }

        private static CounterSnapshot counter(String name, String help, SortedMap<UsageLabels, UsageTotals> local,
                                               ToLongFunction<UsageTotals> value) {
            CounterSnapshot.Builder family = CounterSnapshot.builder().name(name).help(help);
            local.forEach((labels, totals) -> family.dataPoint(CounterDataPointSnapshot.builder()
                    .labels(labels(labels))
                    .value(value.applyAsLong(totals))
                    .build()));
            return family.build();
        }

        private static CounterSnapshot decimalCounter(String name, String help,
                                                      SortedMap<UsageLabels, UsageTotals> local,
                                                      java.util.function.ToDoubleFunction<UsageTotals> value) {
            CounterSnapshot.Builder family = CounterSnapshot.builder().name(name).help(help);
            local.forEach((labels, totals) -> family.dataPoint(CounterDataPointSnapshot.builder()
                    .labels(labels(labels))
                    .value(value.applyAsDouble(totals))
                    .build()));
            return family.build();
        }

        /** The cost per namespace, client, model and currency: summed over routes and proxies, exactly, then shown. */
        private static CounterSnapshot cost(SortedMap<UsageLabels, UsageTotals> local) {
            Map<List<String>, java.math.BigDecimal> grouped = new TreeMap<>(LABEL_LISTS);
            local.forEach((labels, totals) -> totals.cost().amounts().forEach((currency, amount) -> grouped.merge(
                    List.of(labels.namespace(), labels.clientName(), labels.model(), currency), amount,
                    java.math.BigDecimal::add)));
            CounterSnapshot.Builder family = CounterSnapshot.builder().name(COST)
                    .help("Cost of the requests at the price list (--prices), in its currency");
            grouped.forEach((key, amount) -> family.dataPoint(CounterDataPointSnapshot.builder()
                    .labels(Labels.of(TAG_NAMESPACE, key.get(0), TAG_CLIENT_NAME, key.get(1), TAG_MODEL, key.get(2),
                            TAG_CURRENCY, key.get(3)))
                    .value(amount.doubleValue())
                    .build()));
            return family.build();
        }

        private static CounterSnapshot unpriced(SortedMap<UsageLabels, UsageTotals> local) {
            Map<List<String>, Long> grouped = new TreeMap<>(LABEL_LISTS);
            local.forEach((labels, totals) -> {
                if (totals.unpriced() > 0) {
                    grouped.merge(List.of(labels.namespace(), labels.clientName(), labels.model()),
                            totals.unpriced(), UsageTotals::plus);
                }
            });
            CounterSnapshot.Builder family = CounterSnapshot.builder().name(UNPRICED_REQUESTS)
                    .help("Requests whose model had no price in the price list at their time: in no cost");
            grouped.forEach((key, count) -> family.dataPoint(CounterDataPointSnapshot.builder()
                    .labels(Labels.of(TAG_NAMESPACE, key.get(0), TAG_CLIENT_NAME, key.get(1), TAG_MODEL, key.get(2)))
                    .value(count)
                    .build()));
            return family.build();
        }

        private static final Comparator<List<String>> LABEL_LISTS = (a, b) -> {
            for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
                int c = a.get(i).compareTo(b.get(i));
                if (c != 0) {
                    return c;
                }
            }
            return Integer.compare(a.size(), b.size());
        };

        private static CounterSnapshot requests(SortedMap<UsageLabels, UsageTotals> local) {
            CounterSnapshot.Builder family = CounterSnapshot.builder()
                    .name(REQUESTS)
                    .help("Requests that reached the tap, by outcome");
            local.forEach((labels, totals) -> totals.requests().forEach((outcome, count) ->
                    family.dataPoint(CounterDataPointSnapshot.builder()
                            .labels(labels(labels).add(TAG_OUTCOME, outcome))
                            .value(count)
                            .build())));
            return family.build();
        }

        /**
         * A histogram family per namespace, client and model: the stored per-label-set histograms summed over the
         * other labels, which keeps the series count down (buckets multiply it).
         */
        private static HistogramSnapshot histogram(String name, String help,
                                                   SortedMap<UsageLabels, UsageTotals> local,
                                                   Function<UsageTotals, LatencyHistogram> of, double[] bounds) {
            Map<List<String>, LatencyHistogram> grouped = new TreeMap<>(Comparator
                    .comparing((List<String> k) -> k.get(0)).thenComparing(k -> k.get(1)).thenComparing(k -> k.get(2)));
            local.forEach((labels, totals) -> grouped.merge(
                    List.of(labels.namespace(), labels.clientName(), labels.model()), of.apply(totals),
                    LatencyHistogram::plus));
            double[] upperBounds = Arrays.copyOf(bounds, bounds.length + 1);
            upperBounds[bounds.length] = Double.POSITIVE_INFINITY;
            HistogramSnapshot.Builder family = HistogramSnapshot.builder().name(name).help(help).unit(Unit.SECONDS);
            grouped.forEach((key, histogram) -> {
                if (histogram.total() == 0) {
                    return;
                }
                long[] counts = new long[upperBounds.length];
                for (int i = 0; i < counts.length; i++) {
                    counts[i] = histogram.count(i);
                }
                family.dataPoint(HistogramDataPointSnapshot.builder()
                        .labels(Labels.of(TAG_NAMESPACE, key.get(0), TAG_CLIENT_NAME, key.get(1), TAG_MODEL,
                                key.get(2)))
                        .classicHistogramBuckets(ClassicHistogramBuckets.of(upperBounds, counts))
                        .sum(histogram.sumMillis() / 1000.0)
                        .build());
            });
            return family.build();
        }

        private static Labels labels(UsageLabels l) {
            return Labels.of(TAG_NAMESPACE, l.namespace(), TAG_CLIENT_NAME, l.clientName(), TAG_FULL_PATH,
                    l.fullPath(), TAG_HOSTNAME, l.hostname(), TAG_MODEL, l.model());
        }
    }
}
