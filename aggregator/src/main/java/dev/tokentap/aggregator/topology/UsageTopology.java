package dev.tokentap.aggregator.topology;

import dev.tokentap.aggregator.identity.IdentityResolver;
import dev.tokentap.aggregator.pricing.Prices;
import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.aggregator.k8s.PodIdentity;
import dev.tokentap.event.EnrichedUsageEvent;
import dev.tokentap.event.Cost;
import dev.tokentap.event.EnrichedUsageEventCodec;
import dev.tokentap.event.HourlyUsageCodec;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventDecodeException;
import dev.tokentap.event.UsageEventSerde;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Objects;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the aggregator's one Kafka Streams topology: usage log → decode (unreadable records to the DLQ) → drop
 * copies of an {@code event_id} already seen ({@link EventDeduplicator}) → resolve
 * the caller (pod directory as of the event's start, then {@link IdentityResolver}) → one enriched record per
 * request to the enriched topic, keyed by client name and carrying its cost at the price list ({@link Prices}),
 * → key by label set → running totals in the persistent store {@link #TOTALS_STORE}, and → key by client, model and
 * route → sums per hour in the window store {@link #HOURLY_STORE} and one final record per hour to the hourly topic
 * ({@link HourlyRecords}).
 *
 * <p>Every processor, the repartition topic and the store are named explicitly: their names become internal
 * topic names, and must not shift when the topology grows.
 */
public final class UsageTopology {

    /** The persistent key-value store of {@link UsageLabels} → {@link UsageTotals}. */
    public static final String TOTALS_STORE = "usage-totals";
    /** The persistent set of admitted {@code model} label values per stream task ({@link SeriesCap}). */
    public static final String ADMITTED_MODELS_STORE = "admitted-models";
    /** The persistent set of admitted {@code client_name} label values per stream task ({@link SeriesCap}). */
    public static final String ADMITTED_CLIENTS_STORE = "admitted-clients";
    /** Distinct models admitted per stream task unless told otherwise. */
    public static final int DEFAULT_MODEL_SERIES_CAP = 100;
    /** Distinct client names admitted per stream task unless told otherwise. */
    public static final int DEFAULT_CLIENT_SERIES_CAP = 500;
    /** Name of the repartition step; the topic is {@code <application.id>-usage-by-labels-repartition}. */
    public static final String BY_LABELS = "usage-by-labels";
    /** The window store of event ids seen, for de-duplication. */
    public static final String EVENT_IDS_STORE = EventDeduplicator.STORE;
    /** How long, in hours, an {@code event_id} is remembered unless configured otherwise. */
    public static final int DEFAULT_DEDUP_RETENTION_HOURS = 24;
    /** How long an {@code event_id} is remembered unless configured otherwise. */
    public static final Duration DEFAULT_DEDUP_RETENTION = Duration.ofHours(DEFAULT_DEDUP_RETENTION_HOURS);
    /** The window store of stored responses whose usage was counted ({@link ResponseBilling}). */
    public static final String RESPONSES_STORE = ResponseBilling.STORE;
    /** Name of the repartition by response id; the topic is {@code <application.id>-usage-by-response-repartition}. */
    public static final String BY_RESPONSE = "usage-by-response";
    /** How long, in days, a stored response is remembered after its last event unless configured otherwise. */
    public static final int DEFAULT_RESPONSE_RETENTION_DAYS = 30;
    /** How long a stored response is remembered after its last event unless configured otherwise. */
    public static final Duration DEFAULT_RESPONSE_RETENTION = Duration.ofDays(DEFAULT_RESPONSE_RETENTION_DAYS);
    /** The window store of sums per client, model, route and hour, that {@code /api/v1/usage} reads. */
    public static final String HOURLY_STORE = HourlyRecords.STORE;
    /** The store of hours still open, late sums not yet written and the time closed up to. */
    public static final String HOURLY_STATE_STORE = HourlyRecords.STATE_STORE;
    /** Name of the hourly repartition step; the topic is {@code <application.id>-usage-by-hour-repartition}. */
    public static final String BY_HOUR = "usage-by-hour";
    /** How long after its hour an hourly record is written unless configured otherwise. */
    public static final Duration DEFAULT_HOURLY_GRACE = Duration.ofMinutes(10);
    /** How long the hourly sums are kept for {@code /api/v1/usage} unless configured otherwise. */
    public static final Duration DEFAULT_USAGE_RETENTION = Duration.ofDays(90);
    /**
     * How far an event's {@code started_at} may be ahead of the aggregator's clock when it reads the event; one
     * further ahead is counted in the hour the aggregator read it, so that a proxy's clock cannot open hours in the
     * future (their record would wait for years).
     */
    public static final Duration FUTURE_TOLERANCE = Duration.ofMinutes(5);
    /** Header on a DLQ record: why it could not be decoded ({@link UsageEventDecodeException#reason()}). */
    public static final String DLQ_REASON_HEADER = "tokentap_dlq_reason";

    private static final Logger LOG = LoggerFactory.getLogger(UsageTopology.class);

    private UsageTopology() {
    }

    /**
     * The limits the topology keeps to.
     *
     * @param modelSeriesCap  at most this many distinct {@code model} labels per stream task; later ones count as
     *                        {@code other}
     * @param clientSeriesCap at most this many distinct {@code client_name} labels per stream task; later ones
     *                        count as {@code other}
     * @param dedupRetention  how long an {@code event_id} is remembered; a copy seen within it is dropped
     * @param responseRetention how long a stored response's billing is remembered after its last event; a read
     *                        later than that counts its usage again
     */
    public record Limits(int modelSeriesCap, int clientSeriesCap, Duration dedupRetention,
                         Duration responseRetention) {

        /** The defaults of the aggregator's flags. */
        public static final Limits DEFAULT = new Limits(DEFAULT_MODEL_SERIES_CAP, DEFAULT_CLIENT_SERIES_CAP,
                DEFAULT_DEDUP_RETENTION);

        /** Limits with the default response retention. */
        public Limits(int modelSeriesCap, int clientSeriesCap, Duration dedupRetention) {
            this(modelSeriesCap, clientSeriesCap, dedupRetention, DEFAULT_RESPONSE_RETENTION);
        }

        public Limits {
            if (modelSeriesCap < 1) {
                throw new IllegalArgumentException("modelSeriesCap must be at least 1, got " + modelSeriesCap);
            }
            if (clientSeriesCap < 1) {
                throw new IllegalArgumentException("clientSeriesCap must be at least 1, got " + clientSeriesCap);
            }
            Objects.requireNonNull(dedupRetention, "dedupRetention");
            Objects.requireNonNull(responseRetention, "responseRetention");
        }

        public Limits withModelSeriesCap(int cap) {
            return new Limits(cap, clientSeriesCap, dedupRetention, responseRetention);
        }

        public Limits withClientSeriesCap(int cap) {
            return new Limits(modelSeriesCap, cap, dedupRetention, responseRetention);
        }

        public Limits withDedupRetention(Duration retention) {
            return new Limits(modelSeriesCap, clientSeriesCap, retention, responseRetention);
        }

        public Limits withResponseRetention(Duration retention) {
            return new Limits(modelSeriesCap, clientSeriesCap, dedupRetention, retention);
        }
    }

    /**
     * What the topology bills by.
     *
     * @param prices         the price list; {@link Prices#NONE} for none (no cost, nothing unpriced)
     * @param hourlyGrace    how long after an hour ends its record waits for requests still on their way
     * @param usageRetention how long the hourly sums stay in {@link #HOURLY_STORE} for {@code /api/v1/usage}
     */
    public record Billing(Prices prices, Duration hourlyGrace, Duration usageRetention) {

        /** No prices, the default grace and retention. */
        public static final Billing DEFAULT = new Billing(Prices.NONE, DEFAULT_HOURLY_GRACE, DEFAULT_USAGE_RETENTION);

        public Billing {
            Objects.requireNonNull(prices, "prices");
            if (hourlyGrace == null || hourlyGrace.isNegative()) {
                throw new IllegalArgumentException("hourlyGrace must be zero or more, got " + hourlyGrace);
            }
            if (usageRetention == null || usageRetention.compareTo(Duration.ofDays(1)) < 0) {
                throw new IllegalArgumentException("usageRetention must be at least a day, got " + usageRetention);
            }
        }

        public Billing withPrices(Prices p) {
            return new Billing(p, hourlyGrace, usageRetention);
        }

        public Billing withHourlyGrace(Duration grace) {
            return new Billing(prices, grace, usageRetention);
        }
    }

    /**
     * Told what the topology does with records, for metrics. Called on stream threads: quick and thread-safe. A
     * task retried under exactly-once may tell the same record again.
     */
    public interface Observer {

        /** Tells nothing. */
        Observer NONE = new Observer() {
        };

        /** A record could not be decoded and went to the DLQ, for {@code reason}. */
        default void decodeFailure(String reason) {
        }

        /** An event was dropped as a copy of one already counted. */
        default void duplicate() {
        }

        /** An event was counted as a request without its usage, for {@code reason} (one of {@link UsageValues}). */
        default void invalidUsage(String reason) {
        }

        /** An event arrived after its hour was closed: it goes into a late record. */
        default void lateEvent() {
        }

        /** An event's {@code started_at} was too far ahead of the aggregator's clock: counted in the hour it was read. */
        default void futureEvent() {
        }
    }

    /**
     * The topology.
     *
     * @param topics     where to read usage, write enriched records and send unreadable records
     * @param pods       who held a client address when; looked up once per event on a stream thread
     * @param identities names the client from the event and its pod
     * @param clock      the aggregator's own time: every usage record is stamped with it as it is read
     *                   ({@link ProcessingTime}), and it stands in for a missing {@code started_at}
     * @param limits     series caps and de-duplication retention
     * @param billing    prices, the hourly grace period and how long hourly sums are kept
     * @param observer   told of decode failures, duplicates, invalid usage, late and future events
     */
    public static Topology build(Topics topics, PodDirectory pods, IdentityResolver identities, Clock clock,
                                 Limits limits, Billing billing, Observer observer) {
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(billing, "billing");
        Objects.requireNonNull(pods, "pods");
        Objects.requireNonNull(identities, "identities");
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(limits, "limits");
        Objects.requireNonNull(observer, "observer");
        Duration dedupRetention = limits.dedupRetention();
        StreamsBuilder builder = new StreamsBuilder();
        for (String admitted : new String[] {ADMITTED_MODELS_STORE, ADMITTED_CLIENTS_STORE}) {
            builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(admitted),
                    Serdes.String(), Serdes.Long()));
        }
        builder.addStateStore(EventDeduplicator.storeBuilder(dedupRetention));
        builder.addStateStore(ResponseBilling.storeBuilder(limits.responseRetention()));
        builder.addStateStore(HourlyRecords.storeBuilder(billing.usageRetention()));
        builder.addStateStore(HourlyRecords.stateStoreBuilder());
        Prices prices = billing.prices();
        boolean priced = prices.configured();

        KStream<byte[], Decoded> decoded = builder
                .stream(topics.usage(), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray())
                        .withTimestampExtractor(new ProcessingTime(clock)).withName("usage-source"))
                .processValues(() -> new DecodeProcessor(observer), Named.as("decode"));

        var branches = decoded.split(Named.as("decoded-"))
                .branch((key, value) -> value.event() == null, Branched.as("failed"))
                .defaultBranch(Branched.as("ok"));

        branches.get("decoded-failed")
                .mapValues(Decoded::raw, Named.as("dlq-raw"))
                .to(topics.dlq(), Produced.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("dlq-sink"));

        KStream<byte[], UsageEvent> events = branches.get("decoded-ok")
                .processValues(() -> new EventDeduplicator(dedupRetention, observer::duplicate), Named.as("dedup"),
                        EventDeduplicator.STORE)
                .mapValues(kept -> {
                    if (kept.usageProblem() != null) {
                        observer.invalidUsage(kept.usageProblem());
                    }
                    return kept.event();
                }, Named.as("event"));

        // a stored response is billed once: every event naming it meets the same task, whoever read it
        var byKind = events.split(Named.as("events-"))
                .branch((key, event) -> ResponseBilling.applies(event), Branched.as("of-responses"))
                .defaultBranch(Branched.as("other"));
        KStream<byte[], UsageEvent> responses = byKind.get("events-of-responses")
                .selectKey((key, event) -> event.responseId().getBytes(StandardCharsets.UTF_8),
                        Named.as("key-by-response"))
                .repartition(Repartitioned.with(Serdes.ByteArray(), new UsageEventSerde()).withName(BY_RESPONSE))
                .processValues(() -> new ResponseBilling(limits.responseRetention()), Named.as("bill-once"),
                        ResponseBilling.STORE);

        KStream<byte[], EnrichedUsageEvent> enriched = byKind.get("events-other")
                .merge(responses, Named.as("all-events"))
                .mapValues(event -> enrich(event, pods, identities, clock, prices), Named.as("enrich"));

        enriched.selectKey((key, e) -> e.client().clientName(), Named.as("key-by-client-name"))
                .to(topics.enriched(), Produced.with(Serdes.String(), EnrichedUsageEventCodec.serde())
                        .withName("enriched-sink"));

        // only the copy that goes to the totals has its model and client name capped: the enriched record keeps the
        // real ones. The repartition topic carries the labels in its key and only the counted part of the event
        enriched.processValues(() -> SeriesCap.models(limits.modelSeriesCap()), Named.as("cap-models"),
                        ADMITTED_MODELS_STORE)
                .processValues(() -> SeriesCap.clients(limits.clientSeriesCap()), Named.as("cap-clients"),
                        ADMITTED_CLIENTS_STORE)
                .process(() -> new KeyByLabels(priced), Named.as("key-by-labels"))
                .groupByKey(Grouped.with(BY_LABELS, JsonSerde.labels(), new CountedUsageSerde()))
                .aggregate(() -> UsageTotals.EMPTY, (labels, counted, totals) -> totals.add(counted),
                        Named.as("totals"),
                        Materialized.<UsageLabels, UsageTotals, KeyValueStore<Bytes, byte[]>>as(TOTALS_STORE)
                                .withKeySerde(JsonSerde.labels())
                                .withValueSerde(JsonSerde.totals()));

        // the hourly sums take the real client name and model, as the enriched record does
        enriched.process(() -> new KeyByHour(priced, observer), Named.as("key-by-hour"))
                .repartition(Repartitioned.with(JsonSerde.hourlyKey(), new CountedUsageSerde()).withName(BY_HOUR))
                .process(() -> new HourlyRecords(clock, billing.hourlyGrace(), billing.usageRetention(), observer),
                        Named.as("hourly"), HOURLY_STORE, HOURLY_STATE_STORE)
                .to(topics.hourly(), Produced.with(Serdes.String(), HourlyUsageCodec.serde())
                        .withName("hourly-sink"));

        return builder.build();
    }

    /** The event with its caller resolved as of the event's start, and its cost at the price then in force. */
    static EnrichedUsageEvent enrich(UsageEvent event, PodDirectory pods, IdentityResolver identities, Clock clock,
                                     Prices prices) {
        long at = event.startedAt() != null ? event.startedAt() : clock.millis();
        PodIdentity pod = pods.lookup(event.clientAddress(), at);
        Cost cost = prices.configured() ? prices.costOf(event, at) : null;
        return new EnrichedUsageEvent(event, identities.resolve(event, pod), cost);
    }

    /**
     * Keys an event by its labels for the repartition topic, without the usage record's headers: the totals read
     * none of them, and each one would be written, fetched and sized again for every event.
     */
    private static final class KeyByLabels implements Processor<byte[], EnrichedUsageEvent, UsageLabels, Counted> {
        private final boolean priced;
        private ProcessorContext<UsageLabels, Counted> context;

        KeyByLabels(boolean priced) {
            this.priced = priced;
        }

        @Override
        public void init(ProcessorContext<UsageLabels, Counted> context) {
            this.context = context;
        }

        @Override
        public void process(Record<byte[], EnrichedUsageEvent> record) {
            EnrichedUsageEvent e = record.value();
            context.forward(new Record<>(UsageLabels.of(e), new Counted(e.event(), e.cost(),
                    priced && e.cost() == null), record.timestamp()));
        }
    }

    /**
     * Keys an event by its client, model and route for the hourly sums, and fixes the time it is counted at: its
     * {@code started_at}, unless that is missing or more than {@link #FUTURE_TOLERANCE} ahead of when the aggregator
     * read it (the record timestamp, by the aggregator's clock); then the time it was read.
     */
    private static final class KeyByHour implements Processor<byte[], EnrichedUsageEvent, HourlyKey, Counted> {
        private final boolean priced;
        private final Observer observer;
        private ProcessorContext<HourlyKey, Counted> context;

        KeyByHour(boolean priced, Observer observer) {
            this.priced = priced;
            this.observer = observer;
        }

        @Override
        public void init(ProcessorContext<HourlyKey, Counted> context) {
            this.context = context;
        }

        @Override
        public void process(Record<byte[], EnrichedUsageEvent> record) {
            EnrichedUsageEvent e = record.value();
            UsageEvent event = e.event();
            long read = record.timestamp();
            Long started = event.startedAt();
            if (started == null || started <= 0) {
                event = event.toBuilder().startedAt(read).build();
            } else if (started > read + FUTURE_TOLERANCE.toMillis()) {
                observer.futureEvent();
                event = event.toBuilder().startedAt(read).build();
            }
            context.forward(new Record<>(HourlyKey.of(e), new Counted(event, e.cost(), priced && e.cost() == null),
                    read));
        }
    }

    /**
     * A usage log record after decoding: the event (and why its usage was dropped, if it was), or the untouched
     * bytes of a record that is not one.
     */
    record Decoded(UsageEvent event, byte[] raw, String usageProblem) {
    }

    /**
     * Decodes; on failure tags the record with the reason and keeps its bytes for the DLQ. An event whose usage
     * values are invalid ({@link UsageValues}) is decoded without them. Never throws.
     */
    private static final class DecodeProcessor implements FixedKeyProcessor<byte[], byte[], Decoded> {
        private final UsageEventCodec codec = new UsageEventCodec();
        private final Observer observer;
        private FixedKeyProcessorContext<byte[], Decoded> context;

        DecodeProcessor(Observer observer) {
            this.observer = observer;
        }

        @Override
        public void init(FixedKeyProcessorContext<byte[], Decoded> context) {
            this.context = context;
        }

        @Override
        public void process(FixedKeyRecord<byte[], byte[]> record) {
            try {
                byte[] raw = record.value();
                String usageProblem = raw == null ? null : UsageValues.problem(raw);
                UsageEvent event = codec.decode(usageProblem == null ? raw : UsageValues.withoutUsage(raw));
                context.forward(record.withValue(new Decoded(event, null, usageProblem)));
            } catch (UsageEventDecodeException e) {
                observer.decodeFailure(e.reason());
                if (LOG.isDebugEnabled()) {
                    context.recordMetadata().ifPresent(m -> LOG.debug(
                            "usage record not decodable topic={} partition={} offset={} reason={} error={}",
                            m.topic(), m.partition(), m.offset(), e.reason(), e.getMessage()));
                }
                record.headers().remove(DLQ_REASON_HEADER);
                record.headers().add(DLQ_REASON_HEADER, e.reason().getBytes(StandardCharsets.UTF_8));
                context.forward(record.withValue(new Decoded(null, record.value(), null)));
            }
        }
    }
}
