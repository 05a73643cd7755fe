package dev.tokentap.aggregator.topology;

import dev.tokentap.event.EnrichedUsageEvent;
import java.util.HashSet;
import java.util.Set;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Keeps the {@code model} label bounded: the first {@code cap} distinct models a stream task sees are admitted (and
 * remembered in {@link UsageTopology#ADMITTED_MODELS_STORE}, so the set is the same after a restart); the events of
 * any later model are counted under {@link #OTHER}. Only the copy that goes to the totals passes through here; the
 * enriched record keeps the real model.
 *
 * <p>The store is the record that survives restarts; the task also keeps the admitted set in memory, read from the
 * store at every init, so that an event of an admitted model costs a hash lookup rather than a store read.
 */
final class ModelSeriesCap implements FixedKeyProcessor<byte[], EnrichedUsageEvent, EnrichedUsageEvent> {

    /** The {@code model} label of models beyond the cap. */
    static final String OTHER = "other";

    private final int cap;
    private FixedKeyProcessorContext<byte[], EnrichedUsageEvent> context;
    private KeyValueStore<String, Long> admitted;
    private final Set<String> admittedLabels = new HashSet<>();

    ModelSeriesCap(int cap) {
        this.cap = cap;
    }

    @Override
    public void init(FixedKeyProcessorContext<byte[], EnrichedUsageEvent> context) {
        this.context = context;
        this.admitted = context.getStateStore(UsageTopology.ADMITTED_MODELS_STORE);
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
        String model = record.value().event().model();
        if (model == null || model.isEmpty()) {
            context.forward(record);
            return;
        }
        String label = model.length() <= UsageLabels.MAX_VALUE_LENGTH ? model
                : model.substring(0, UsageLabels.MAX_VALUE_LENGTH);
        if (admittedLabels.contains(label)) {
            context.forward(record);
        } else if (admittedLabels.size() < cap) {
            admitted.put(label, record.timestamp());
            admittedLabels.add(label);
            context.forward(record);
        } else {
            EnrichedUsageEvent e = record.value();
            context.forward(record.withValue(new EnrichedUsageEvent(e.event().toBuilder().model(OTHER).build(),
                    e.client())));
        }
    }
}
