package dev.tokentap.aggregator;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.streams.state.RocksDBConfigSetter;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.Cache;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.WriteBufferManager;

/**
 * Bounds what RocksDB takes outside the heap, for every store of the aggregator together: Kafka Streams' bounded
 * memory configuration. Left to its defaults each RocksDB instance (one per store and task, and one per segment of
 * a window store: dozens here) has its own block cache of up to 50 MiB, up to three 16 MiB memtables, and index and
 * filter blocks outside any cache, so the resident set grows with the stores written, not with a setting.
 *
 * <p>Here every instance of the process shares one LRU cache of {@code --rocksdb-memory} bytes, which holds the data
 * blocks, the index and filter blocks (at high priority, so that reads do not evict them), and is charged with every
 * memtable through one {@link WriteBufferManager}: memtables may take half of it before the largest is flushed.
 * Streams builds a setter per store, so the cache and the manager are kept per size for the life of the JVM (closing
 * them with one store would pull them from under the others); processes with one aggregator, as every process here,
 * hold one.
 */
public final class BoundedRocksDbMemory implements RocksDBConfigSetter {

    /** The Streams property that carries the size to the setter. */
    public static final String MEMORY_CONFIG = "tokentap.rocksdb.memory.bytes";
    /** The aggregator's default: a small share of the 1 GiB its container has (deploy/). */
    public static final long DEFAULT_MEMORY = 64L << 20;
    /** The least that makes sense: a few memtables and blocks. */
    public static final long MIN_MEMORY = 4L << 20;

    /** Share of the cache the index and filter blocks get first. */
    private static final double HIGH_PRIORITY_RATIO = 0.1;
    private static final long MAX_MEMTABLE = 16L << 20;
    private static final long MIN_MEMTABLE = 1L << 20;

    private static final Map<Long, Shared> SHARED = new ConcurrentHashMap<>();

    /** The cache and write buffer manager every store of one size shares. */
    record Shared(Cache cache, WriteBufferManager writeBuffers, long capacity, long memtableBudget, long memtableSize) {

        static Shared of(long capacity) {
            LRUCache cache = new LRUCache(capacity, -1, false, HIGH_PRIORITY_RATIO);
            long budget = capacity / 2;
            // a few memtables fit the budget before the manager flushes; more, smaller flushes for a smaller one
            long memtable = Math.max(MIN_MEMTABLE, Math.min(MAX_MEMTABLE, budget / 4));
            return new Shared(cache, new WriteBufferManager(budget, cache), capacity, budget, memtable);
        }
    }

    @Override
    public void setConfig(String storeName, Options options, Map<String, Object> configs) {
        Shared shared = shared(memory(configs));
        BlockBasedTableConfig table = (BlockBasedTableConfig) options.tableFormatConfig();
        table.setBlockCache(shared.cache());
        table.setCacheIndexAndFilterBlocks(true);
        table.setCacheIndexAndFilterBlocksWithHighPriority(true);
        table.setPinTopLevelIndexAndFilter(true);
        options.setTableFormatConfig(table);
        options.setWriteBufferManager(shared.writeBuffers());
        options.setWriteBufferSize(shared.memtableSize());
        options.setMaxWriteBufferNumber(2);
    }

    @Override
    public void close(String storeName, Options options) {
        // the cache and the manager are shared by every store: they live as long as the JVM
    }

    /** The shared cache and manager of {@code capacity} bytes, made on first use. */
    static Shared shared(long capacity) {
        return SHARED.computeIfAbsent(capacity, Shared::of);
    }

    /** The size given in the Streams properties, or the default. */
    static long memory(Map<String, Object> configs) {
        Object value = configs.get(MEMORY_CONFIG);
        if (value == null) {
            return DEFAULT_MEMORY;
        }
        return value instanceof Number number ? number.longValue() : Long.parseLong(value.toString().strip());
    }
}
