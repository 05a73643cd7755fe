package dev.tokentap.aggregator.topology;

import dev.tokentap.aggregator.topology.UsageTopology.Decoded;
import java.time.Duration;
import java.util.Objects;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.Cancellable;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * Lets the first record of each {@code event_id} through and drops (and counts) every later one seen within the
 * retention: a replayed or re-sent event is never counted twice.
 *
 * <p>The ids live in a persistent window store with a changelog, written in the same exactly-once transaction as
 * the totals, so a crash can neither forget an id whose event was counted nor remember one that was not. An id is
 * filed under the time the aggregator read its first copy (the record timestamp, which {@link ProcessingTime} sets
 * from the aggregator's own clock), never under a time a producer wrote: the store drops ids older than the
 * retention behind the newest time it has filed, so one event from a clock years ahead would otherwise make it drop
 * every later id at once, and an event from a clock days behind would be dropped as it was filed. A copy read more
 * than the retention after the first is counted again; the retention bounds how late a replay can be.
 *
 * <p>No repartition is needed: the proxy keys every event by its client address, so every copy of an event lands
 * on the same partition, hence the same task and store.
 */
final class EventDeduplicator implements FixedKeyProcessor<byte[], Decoded, Decoded> {

    /** The window store of event ids; its changelog is {@code <application.id>-usage-event-ids-changelog}. */
    static final String STORE = "usage-event-ids";
    /** The id of the entry that gives an empty store a segment; never an event's (those are not blank). */
    static final String SEGMENT_MARKER = "";
    /** How soon after a task starts its store gets the marker, if it needs one. */
    static final Duration MARKER_DELAY = Duration.ofSeconds(1);

    private final Duration retention;
    private final Runnable duplicates;
    private FixedKeyProcessorContext<byte[], Decoded> context;
    private WindowStore<String, Long> seen;

    EventDeduplicator(Duration retention, Runnable duplicates) {
        this.retention = Objects.requireNonNull(retention, "retention");
        this.duplicates = Objects.requireNonNull(duplicates, "duplicates");
    }

    /** The store this processor needs, with the given retention. */
    static StoreBuilder<WindowStore<String, Long>> storeBuilder(Duration retention) {
        // a window of 1 ms: an id is filed at one instant; segments expire as a whole
        return Stores.windowStoreBuilder(
                Stores.persistentWindowStore(STORE, retention, Duration.ofMillis(1), false),
                Serdes.String(), Serdes.Long());
    }

    @Override
    public void init(FixedKeyProcessorContext<byte[], Decoded> context) {
        this.context = context;
        this.seen = context.getStateStore(STORE);
        // Kafka Streams 4.3 keeps a store's committed changelog offset in the store itself, and a window store keeps
        // it in its segments (AbstractSegments.commit writes it to each segment there is). A store without a segment,
        // that of a task that never saw an event, has nowhere to keep it: under exactly-once the next start then
        // finds no offset in a task directory that is not empty, takes the task's state for corrupt and wipes it
        // (ProcessorStateManager.initializeStoreOffsets), at every restart. One entry gives the store a segment. It
        // is filed at time 0, so it never moves the store's time, and it expires with the first real id's segment
        if (isEmpty()) {
            Cancellable[] marker = new Cancellable[1];
            marker[0] = context.schedule(MARKER_DELAY, PunctuationType.WALL_CLOCK_TIME, now -> {
                if (isEmpty()) {
                    seen.put(SEGMENT_MARKER, 0L, 0L);
                }
                marker[0].cancel();
            });
        }
    }

    private boolean isEmpty() {
        try (KeyValueIterator<Windowed<String>, Long> all = seen.all()) {
            return !all.hasNext();
        }
    }

    @Override
    public void process(FixedKeyRecord<byte[], Decoded> record) {
        String id = record.value().event().eventId();
        long at = record.timestamp();
        // a range on both sides: tolerates the aggregator's clock stepping back a little between two copies
        long from = Math.max(0, at - retention.toMillis());
        try (WindowStoreIterator<Long> found = seen.fetch(id, from, at + retention.toMillis())) {
            if (found.hasNext()) {
                duplicates.run();
                return;
            }
        }
        seen.put(id, at, at);
        context.forward(record);
    }
}
