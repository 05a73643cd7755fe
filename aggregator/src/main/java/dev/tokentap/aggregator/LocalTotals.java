package dev.tokentap.aggregator;

import dev.tokentap.aggregator.topology.UsageLabels;
import dev.tokentap.aggregator.topology.UsageTotals;
import dev.tokentap.aggregator.topology.UsageTopology;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads this instance's part of the totals store (active tasks only, never standbys) by interactive query. Each
 * label set is owned by exactly one instance, so summing what every instance serves gives the fleet total.
 */
final class LocalTotals implements Supplier<Optional<SortedMap<UsageLabels, UsageTotals>>> {

    private static final Logger LOG = LoggerFactory.getLogger(LocalTotals.class);

    private final Supplier<KafkaStreams> streams;

    /** @param streams the Streams client; null until it exists */
    LocalTotals(Supplier<KafkaStreams> streams) {
        this.streams = streams;
    }

    /**
     * A sorted copy of the local totals, or empty while the store can't be queried (starting, rebalancing).
     *
     * @throws IllegalStateException when the store can be queried but not read (a value that is not totals, a
     *                               RocksDB error): {@code /metrics} and {@code /readyz} then say so
     */
    @Override
    public Optional<SortedMap<UsageLabels, UsageTotals>> get() {
        KafkaStreams streams = this.streams.get();
        if (streams == null) {
            return Optional.empty();
        }
        try {
            ReadOnlyKeyValueStore<UsageLabels, UsageTotals> store = streams.store(StoreQueryParameters.fromNameAndType(
                    UsageTopology.TOTALS_STORE, QueryableStoreTypes.<UsageLabels, UsageTotals>keyValueStore()));
            SortedMap<UsageLabels, UsageTotals> totals = new TreeMap<>();
            try (KeyValueIterator<UsageLabels, UsageTotals> all = store.all()) {
                all.forEachRemaining(kv -> totals.put(kv.key, kv.value));
            }
            return Optional.of(totals);
        } catch (InvalidStateStoreException e) {
            LOG.debug("totals store not queryable state={} error={}", streams.state(), e.getMessage());
            return Optional.empty();
        } catch (RuntimeException e) {
            throw new IllegalStateException("totals store not readable in state " + streams.state() + ": " + e, e);
        }
    }
}
