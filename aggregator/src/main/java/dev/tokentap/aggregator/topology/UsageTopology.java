package dev.tokentap.aggregator.topology;

import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventDecodeException;
import dev.tokentap.event.UsageEventSerde;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.function.Consumer;
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
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the aggregator's one Kafka Streams topology: usage log → decode (unreadable records to the DLQ) → key by
 * label set → running totals in the persistent store {@link #TOTALS_STORE}.
 *
 * <p>Every processor, the repartition topic and the store are named explicitly: their names become internal
 * topic names, and must not shift when the topology grows.
 */
public final class UsageTopology {

    /** The persistent key-value store of {@link UsageLabels} → {@link UsageTotals}. */
    public static final String TOTALS_STORE = "usage-totals";
    /** The persistent set of admitted {@code model} label values per stream task ({@link ModelSeriesCap}). */
    public static final String ADMITTED_MODELS_STORE = "admitted-models";
    /** Distinct models admitted per stream task unless told otherwise. */
    public static final int DEFAULT_MODEL_SERIES_CAP = 100;
    /** Name of the repartition step; the topic is {@code <application.id>-usage-by-labels-repartition}. */
    public static final String BY_LABELS = "usage-by-labels";
    /** Header on a DLQ record: why it could not be decoded ({@link UsageEventDecodeException#reason()}). */
    public static final String DLQ_REASON_HEADER = "tokentap_dlq_reason";

    private static final Logger LOG = LoggerFactory.getLogger(UsageTopology.class);

    private UsageTopology() {
    }

    /**
     * The topology.
     *
     * @param topics         where to read usage and send unreadable records
     * @param decodeFailures told the reason of every record that could not be decoded (for a metric); it runs on
     *                       a stream thread, so it must be quick and thread-safe
     */
    public static Topology build(Topics topics, Consumer<String> decodeFailures) {
        return build(topics, decodeFailures, DEFAULT_MODEL_SERIES_CAP);
    }

    /**
     * The topology, with at most {@code modelSeriesCap} distinct {@code model} labels per stream task.
     *
     * @see #build(Topics, Consumer)
     */
    public static Topology build(Topics topics, Consumer<String> decodeFailures, int modelSeriesCap) {
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(decodeFailures, "decodeFailures");
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(ADMITTED_MODELS_STORE),
                Serdes.String(), Serdes.Long()));

        KStream<byte[], Decoded> decoded = builder
                .stream(topics.usage(), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("usage-source"))
                .processValues(() -> new DecodeProcessor(decodeFailures), Named.as("decode"));

        var branches = decoded.split(Named.as("decoded-"))
                .branch((key, value) -> value.event() == null, Branched.as("failed"))
                .defaultBranch(Branched.as("ok"));

        branches.get("decoded-failed")
                .mapValues(Decoded::raw, Named.as("dlq-raw"))
                .to(topics.dlq(), Produced.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("dlq-sink"));

        branches.get("decoded-ok")
                .mapValues(Decoded::event, Named.as("event"))
                .processValues(() -> new ModelSeriesCap(modelSeriesCap), Named.as("cap-models"),
                        ADMITTED_MODELS_STORE)
                .groupBy((key, event) -> UsageLabels.withoutKubernetes(event),
                        Grouped.with(BY_LABELS, JsonSerde.labels(), new UsageEventSerde()))
                .aggregate(() -> UsageTotals.EMPTY, (labels, event, totals) -> totals.add(event),
                        Named.as("totals"),
                        Materialized.<UsageLabels, UsageTotals, KeyValueStore<Bytes, byte[]>>as(TOTALS_STORE)
                                .withKeySerde(JsonSerde.labels())
                                .withValueSerde(JsonSerde.totals()));

        return builder.build();
    }

    /** A usage log record after decoding: the event, or the untouched bytes of a record that is not one. */
    record Decoded(UsageEvent event, byte[] raw) {
    }

    /** Decodes; on failure tags the record with the reason and keeps its bytes for the DLQ. Never throws. */
    private static final class DecodeProcessor implements FixedKeyProcessor<byte[], byte[], Decoded> {
        private final UsageEventCodec codec = new UsageEventCodec();
        private final Consumer<String> decodeFailures;
        private FixedKeyProcessorContext<byte[], Decoded> context;

        DecodeProcessor(Consumer<String> decodeFailures) {
            this.decodeFailures = decodeFailures;
        }

        @Override
        public void init(FixedKeyProcessorContext<byte[], Decoded> context) {
            this.context = context;
        }

        @Override
        public void process(FixedKeyRecord<byte[], byte[]> record) {
            try {
                context.forward(record.withValue(new Decoded(codec.decode(record.value()), null)));
            } catch (UsageEventDecodeException e) {
                decodeFailures.accept(e.reason());
                if (LOG.isDebugEnabled()) {
                    context.recordMetadata().ifPresent(m -> LOG.debug(
                            "usage record not decodable topic={} partition={} offset={} reason={} error={}",
                            m.topic(), m.partition(), m.offset(), e.reason(), e.getMessage()));
                }
                record.headers().remove(DLQ_REASON_HEADER);
                record.headers().add(DLQ_REASON_HEADER, e.reason().getBytes(StandardCharsets.UTF_8));
                context.forward(record.withValue(new Decoded(null, record.value())));
            }
        }
    }
}
