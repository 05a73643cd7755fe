package dev.tokentap.aggregator.topology;

import dev.tokentap.event.ClientIdentity;
import dev.tokentap.event.EnrichedUsageEvent;
import java.util.HashSet;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Keeps one label bounded ({@code model}, {@code client_name}): the first {@code cap} distinct values a stream task
 * sees are admitted (and remembered in a persistent store, so the set is the same after a restart); the events of
 * any later value are counted under {@link #OTHER}. Only the copy that goes to the totals passes through here; the
 * enriched record keeps the real value.
 *
 * <p>The store is the record that survives restarts; the task also keeps the admitted set in memory, read from the
 * store at every init, so that an event of an admitted value costs a hash lookup rather than a store read.
 */
final class SeriesCap implements FixedKeyProcessor<byte[], EnrichedUsageEvent, EnrichedUsageEvent> {

    /** The label value of values beyond the cap. */
    static final String OTHER = "other";

    private final String store;
    private final int cap;
    private final Function<EnrichedUsageEvent, String> label;
    private final BiFunction<EnrichedUsageEvent, String, EnrichedUsageEvent> relabel;
    private FixedKeyProcessorContext<byte[], EnrichedUsageEvent> context;
    private KeyValueStore<String, Long> admitted;
    private final Set<String> admittedLabels = new HashSet<>();

    private SeriesCap(String store, int cap, Function<EnrichedUsageEvent, String> label,
                      BiFunction<EnrichedUsageEvent, String, EnrichedUsageEvent> relabel) {
        this.store = store;
        this.cap = cap;
        this.label = label;
        this.relabel = relabel;
    }

    /** Caps the {@code model} label, in {@link UsageTopology#ADMITTED_MODELS_STORE}. */
    static SeriesCap models(int cap) {
        return new SeriesCap(UsageTopology.ADMITTED_MODELS_STORE, cap, e -> e.event().model(),
                (e, model) -> new EnrichedUsageEvent(e.event().toBuilder().model(model).build(), e.client()));
    }

    /** Caps the {@code client_name} label, in {@link UsageTopology#ADMITTED_CLIENTS_STORE}. */
    static SeriesCap clients(int cap) {
        return new SeriesCap(UsageTopology.ADMITTED_CLIENTS_STORE, cap, e -> e.client().clientName(),
                (e, name) -> {
                    ClientIdentity c = e.client();
                    return new EnrichedUsageEvent(e.event(), new ClientIdentity(c.namespace(), c.pod(),
                            c.workloadKind(), c.workload(), c.serviceAccount(), c.node(), c.labels(),
                            c.apiKeyAlias(), name, c.clientNameSource()));
                });
    }

    @Override
    public void init(FixedKeyProcessorContext<byte[], EnrichedUsageEvent> context) {
        this.context = context;
        this.admitted = context.getStateStore(store);
        // the store is restored before init: take what was admitted before a restart. Init runs again on the same
        // instance when a task is revived, so start from what the store says, not from what this instance held
        admittedLabels.clear();
        try (KeyValueIterator<String, Long> all = admitted.all()) {
            while (all.hasNext()) {
                admittedLabels.add(all.next().key);
            }
        }
    }

    @Override
    public void process(FixedKeyRecord<byte[], EnrichedUsageEvent> record) {
        String value = label.apply(record.value());
        if (value == null || value.isEmpty()) {
            context.forward(record);
            return;
        }
        String bounded = value.length() <= UsageLabels.MAX_VALUE_LENGTH ? value
                : value.substring(0, UsageLabels.MAX_VALUE_LENGTH);
        if (admittedLabels.contains(bounded)) {
            context.forward(record);
        } else if (admittedLabels.size() < cap) {
            admitted.put(bounded, record.timestamp());
            admittedLabels.add(bounded);
            context.forward(record);
        } else {
            context.forward(record.withValue(relabel.apply(record.value(), OTHER)));
        }
    }
}
