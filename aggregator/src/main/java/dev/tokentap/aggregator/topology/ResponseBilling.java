package dev.tokentap.aggregator.topology;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
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
 * Bills a stored Responses API response once, however often it is read back. vLLM answers every
 * {@code GET /v1/responses/{id}} with the same final usage, and a background response ({@code "background": true},
 * created {@code queued} with no usage) shows its usage only to such a read, or to the stream of its creation.
 *
 * <p>The rule does not depend on the order events arrive in: a creation and a read from two clients, through two
 * proxy replicas, reach the aggregator through different partitions, and a read can overtake the creation it
 * follows. So: a response that is not a background one ({@link UsageEvent#background()} false) is billed by the
 * answer that created it, and a retrieval of it never adds tokens; a background one (or one whose flag was not seen)
 * is billed at the first event of its id, creation or retrieval, that carries its reported usage, and by no other.
 * An event not billed goes on as a request without counts, {@code usage_source} {@value UsageSource#COUNTED_BEFORE}.
 * A retrieval's partial usage (a replayed stream cut short) is never counted: the final usage is there to be read.
 *
 * <p>It runs after a repartition by response id, so every event of one response meets the same task and store,
 * whichever client or proxy replica it came through. The store is persistent with a changelog, written in the same
 * exactly-once transaction as the totals, and keeps a response for the retention after its last billed event, by
 * the aggregator's clock (the record timestamp, see {@link ProcessingTime}). A client that names two background
 * responses alike ({@code request_id}) is billed for the first; vLLM's store keeps only the last of them anyway.
 */
final class ResponseBilling implements FixedKeyProcessor<byte[], UsageEvent, UsageEvent> {

    /** The window store of response ids; its changelog is {@code <application.id>-billed-responses-changelog}. */
    static final String STORE = "billed-responses";
    static final String COUNTED = "counted";
    static final String PENDING = "pending";

    private final Duration retention;
    private FixedKeyProcessorContext<byte[], UsageEvent> context;
    private WindowStore<String, String> responses;

    ResponseBilling(Duration retention) {
        this.retention = Objects.requireNonNull(retention, "retention");
    }

    static StoreBuilder<WindowStore<String, String>> storeBuilder(Duration retention) {
        // a window of 1 ms: each event files the response's state at one instant; the latest one holds
        return Stores.windowStoreBuilder(Stores.persistentWindowStore(STORE, retention, Duration.ofMillis(1), false),
                Serdes.String(), Serdes.String());
    }

    /** Whether an event is one this processor decides on: a Responses API call naming its response. */
    static boolean applies(UsageEvent event) {
        return event.retrieval() != null && event.responseId() != null && !event.responseId().isBlank();
    }

    @Override
    public void init(FixedKeyProcessorContext<byte[], UsageEvent> context) {
        this.context = context;
        this.responses = context.getStateStore(STORE);
        // a window store without a segment cannot keep its committed offset, and a task whose store has none is
        // wiped at every start under exactly-once: one entry at time 0 gives it one (see EventDeduplicator)
        if (isEmpty()) {
            Cancellable[] marker = new Cancellable[1];
            marker[0] = context.schedule(EventDeduplicator.MARKER_DELAY, PunctuationType.WALL_CLOCK_TIME, now -> {
                if (isEmpty()) {
                    responses.put(EventDeduplicator.SEGMENT_MARKER, PENDING, 0L);
                }
                marker[0].cancel();
            });
        }
    }

    private boolean isEmpty() {
        try (KeyValueIterator<Windowed<String>, String> all = responses.all()) {
            return !all.hasNext();
        }
    }

    @Override
    public void process(FixedKeyRecord<byte[], UsageEvent> record) {
        UsageEvent event = record.value();
        if (!hasCounts(event)) {
            context.forward(record);
            return;
        }
        boolean retrieval = Boolean.TRUE.equals(event.retrieval());
        if (Boolean.FALSE.equals(event.background())) {
            // billed by its creation's answer, whatever order the two arrive in
            context.forward(retrieval ? record.withValue(withoutCounts(event)) : record);
            return;
        }
        String id = event.responseId();
        long at = record.timestamp();
        boolean billable = !retrieval || UsageSource.REPORTED.equals(event.usageSource());
        if (billable && !COUNTED.equals(state(id, at))) {
            responses.put(id, COUNTED, at);
            context.forward(record);
            return;
        }
        context.forward(record.withValue(withoutCounts(event)));
    }

    /** The latest state filed for the response, or null. */
    private String state(String id, long at) {
        String latest = null;
        long from = Math.max(0, at - retention.toMillis());
        try (WindowStoreIterator<String> found = responses.fetch(id, from, at + retention.toMillis())) {
            while (found.hasNext()) {
                latest = found.next().value;
            }
        }
        return latest;
    }

    private static boolean hasCounts(UsageEvent event) {
        return !UsageSource.NONE.equals(event.usageSource()) && !UsageSource.INVALID.equals(event.usageSource())
                && (event.promptTokens() != null || event.completionTokens() != null || event.totalTokens() != null);
    }

    static UsageEvent withoutCounts(UsageEvent event) {
        return event.toBuilder().promptTokens(null).completionTokens(null).totalTokens(null).cachedTokens(null)
                .reasoningTokens(null).audioSeconds(null).completionTokensReported(null)
                .usageSource(UsageSource.COUNTED_BEFORE).build();
    }
}
