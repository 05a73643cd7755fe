package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.state.internals.BlockBasedTableConfigWithAccessibleCache;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;

/**
 * The setter on real RocksDB instances, as Streams opens them (its own table config first), read back through
 * RocksDB's own properties: every instance sees the one cache of the given size, and their memtables are charged to
 * it.
 */
class BoundedRocksDbMemoryTest {

    private static final long SIZE = 6L << 20;

    @Test
    void shouldGiveEveryStoreTheOneCacheOfTheGivenSize(@TempDir Path dir) throws RocksDBException {
        // given: three stores opened with the setter, as Streams does for each store and segment
        List<Options> options = new ArrayList<>();
        List<RocksDB> dbs = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Options storeOptions = streamsOptions();
                new BoundedRocksDbMemory().setConfig("store-" + i, storeOptions,
                        Map.of(BoundedRocksDbMemory.MEMORY_CONFIG, Long.toString(SIZE)));
                options.add(storeOptions);
                dbs.add(RocksDB.open(storeOptions, dir.resolve("store-" + i).toString()));
            }

            // when: each takes more writes than its memtable holds
            byte[] value = new byte[1024];
            for (RocksDB db : dbs) {
                for (int k = 0; k < 4_000; k++) {
                    db.put(("key-" + k).getBytes(StandardCharsets.UTF_8), value);
                }
            }

            // then: one capacity for all; the memtables counted in the cache, which stays within its size
            for (RocksDB db : dbs) {
                assertThat(db.getLongProperty("rocksdb.block-cache-capacity")).isEqualTo(SIZE);
                assertThat(db.getLongProperty("rocksdb.block-cache-usage")).isPositive().isLessThanOrEqualTo(SIZE);
            }
            long memtables = 0;
            for (RocksDB db : dbs) {
                memtables += db.getLongProperty("rocksdb.size-all-mem-tables");
            }
            assertThat(memtables).as("memtables of all stores").isLessThanOrEqualTo(SIZE);
        } finally {
            dbs.forEach(RocksDB::close);
            options.forEach(Options::close);
        }
    }

    @Test
    void shouldBeWhatTheAggregatorsStreamsPropertiesGiveEveryStore(@TempDir Path dir) throws RocksDBException {
        // given: the properties the aggregator starts Kafka Streams with
        AggregatorConfig config = AggregatorConfig.fromArgs("--kafka", "127.0.0.1:9092", "--kubernetes", "off",
                "--state-dir", dir.resolve("state").toString(), "--rocksdb-memory", "5MiB");
        java.util.Properties props = Aggregator.streamsProperties(config.streams());
        Map<String, Object> configs = new java.util.HashMap<>();
        props.forEach((key, value) -> configs.put((String) key, value));

        // when: a store is opened as Streams opens it, with the setter those properties name
        Object setter = configs.get(org.apache.kafka.streams.StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG);
        assertThat(setter).isEqualTo(BoundedRocksDbMemory.class);
        try (Options options = streamsOptions()) {
            new BoundedRocksDbMemory().setConfig("totals", options, configs);
            try (RocksDB db = RocksDB.open(options, dir.resolve("totals").toString())) {
                // then
                assertThat(db.getLongProperty("rocksdb.block-cache-capacity")).isEqualTo(5L << 20);
            }
        }
    }

    @Test
    void shouldShareOneCachePerSizeAndSizeMemtablesWithinIt() {
        BoundedRocksDbMemory.Shared small = BoundedRocksDbMemory.shared(16L << 20);

        assertThat(BoundedRocksDbMemory.shared(16L << 20)).isSameAs(small);
        assertThat(small.memtableBudget()).isEqualTo(8L << 20);
        assertThat(small.memtableSize()).isEqualTo(2L << 20);
        assertThat(BoundedRocksDbMemory.shared(1L << 30).memtableSize()).isEqualTo(16L << 20);
        assertThat(BoundedRocksDbMemory.memory(Map.of())).isEqualTo(BoundedRocksDbMemory.DEFAULT_MEMORY);
    }

    /** Options as Kafka Streams makes them before it calls the setter. */
    private static Options streamsOptions() {
        Options options = new Options();
        options.setCreateIfMissing(true);
        options.setTableFormatConfig(new BlockBasedTableConfigWithAccessibleCache());
        return options;
    }
}
