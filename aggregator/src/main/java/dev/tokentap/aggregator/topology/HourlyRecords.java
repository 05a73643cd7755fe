package dev.tokentap.aggregator.topology;

import dev.tokentap.event.HourlyUsage;
import dev.tokentap.event.HourlyUsageCodec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Sums each request into its hour and writes each hour's final record once, in the task's exactly-once
 * transaction.
 *
 * <p>An event is counted in the hour of its {@code started_at} (chosen before the repartition, see
 * {@link UsageTopology}), in the window store {@link #STORE}: one entry per key and hour, kept for the usage
 * retention, which {@code /api/v1/usage} reads. An hour closes by the aggregator's own clock, never by an event's:
 * every {@link #CLOSE_INTERVAL} of wall-clock time the task writes a {@link HourlyUsage#FINAL} record for every key
 * of every hour that ended at least the grace period ago and was not closed yet, and remembers up to when it has
 * closed. An event that arrives for an hour closed already is still added to the window store (the API stays exact),
 * and is summed with the other late arrivals of its key and hour into one {@link HourlyUsage#LATE} record at the
 * next close. No record is ever written twice: the hours still open, the late sums and the time closed up to live in
 * {@link #STATE_STORE}, written in the same transaction as the records, so a crash before the commit leaves them to
 * be written again, and one after it leaves nothing to write.
 *
 * <p>The state store holds three kinds of entries, ordered by their bytes: {@code o<hour><key>} for each key with an
 * open hour (so that closing reads only the hours due, oldest first), {@code l<hour><key>} for late sums not yet
 * written, and {@code c}, the time closed up to.
 */
final class HourlyRecords implements Processor<HourlyKey, Counted, String, HourlyUsage> {

    /** The window store of hourly sums; its changelog is {@code <application.id>-usage-hourly-changelog}. */
    static final String STORE = "usage-hourly";
    /** Open hours, late sums and the time closed up to. */
    static final String STATE_STORE = "usage-hourly-state";
    /** How often a task looks for hours to close, by wall-clock time. */
    static final Duration CLOSE_INTERVAL = Duration.ofSeconds(5);
    static final long HOUR = Duration.ofHours(1).toMillis();

    private static final byte OPEN = 'o';
    private static final byte LATE = 'l';
    private static final Bytes CLOSED_UP_TO = Bytes.wrap(new byte[] {'c'});
    private static final byte[] MARK = new byte[0];

    private final Clock clock;
    private final long grace;
    private final long retention;
    private final UsageTopology.Observer observer;
    private ProcessorContext<String, HourlyUsage> context;
    private WindowStore<HourlyKey, UsageSums> sums;
    private KeyValueStore<Bytes, byte[]> state;

    HourlyRecords(Clock clock, Duration grace, Duration retention, UsageTopology.Observer observer) {
        this.clock = Objects.requireNonNull(clock, "clock");
        this.grace = grace.toMillis();
        this.retention = retention.toMillis();
        this.observer = Objects.requireNonNull(observer, "observer");
    }

    /** The window store, keeping sums a day longer than asked so that the edge of the retention is never cut. */
    static StoreBuilder<WindowStore<HourlyKey, UsageSums>> storeBuilder(Duration retention) {
        return Stores.windowStoreBuilder(
                        Stores.persistentWindowStore(STORE, retention.plusDays(1), Duration.ofHours(1), false),
                        JsonSerde.hourlyKey(), JsonSerde.sums())
                .withCachingEnabled();
    }

    static StoreBuilder<KeyValueStore<Bytes, byte[]>> stateStoreBuilder() {
        return Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STATE_STORE), Serdes.Bytes(),
                Serdes.ByteArray());
    }

    /** The start of the hour {@code at} is in. */
    static long hourOf(long at) {
        return Math.floorDiv(at, HOUR) * HOUR;
    }

    @Override
    public void init(ProcessorContext<String, HourlyUsage> context) {
        this.context = context;
        this.sums = context.getStateStore(STORE);
        this.state = context.getStateStore(STATE_STORE);
        context.schedule(CLOSE_INTERVAL, PunctuationType.WALL_CLOCK_TIME, wallClock -> close(clock.millis()));
    }

    @Override
    public void process(Record<HourlyKey, Counted> record) {
        HourlyKey key = record.key();
        Counted counted = record.value();
        long at = counted.event().startedAt();
        long hour = hourOf(at);
        boolean late = hour + HOUR + grace <= closedUpTo();
        if (hour + HOUR <= clock.millis() - retention) {
            // older than the window store keeps: only its late record tells of it
            observer.lateEvent();
            addLate(key, hour, counted, at);
            return;
        }
        UsageSums before = sums.fetch(key, hour);
        sums.put(key, (before == null ? UsageSums.EMPTY : before).add(counted, at), hour);
        if (late) {
            observer.lateEvent();
            addLate(key, hour, counted, at);
        } else if (before == null) {
            state.put(entry(OPEN, hour, key), MARK);
        }
    }

    private void addLate(HourlyKey key, long hour, Counted counted, long at) {
        Bytes entry = entry(LATE, hour, key);
        byte[] before = state.get(entry);
        UsageSums sum = before == null ? UsageSums.EMPTY : JsonSerde.sums().deserializer().deserialize(null, before);
        state.put(entry, JsonSerde.sums().serializer().serialize(null, sum.add(counted, at)));
    }

    /** Writes the final record of every open hour due at {@code now}, and every late record; remembers {@code now}. */
    void close(long now) {
        long closedUpTo = closedUpTo();
        // a clock that stepped back closes nothing more and reopens nothing
        long dueThrough = Math.max(now, closedUpTo) - grace - HOUR;
        List<Bytes> done = new ArrayList<>();
        try (KeyValueIterator<Bytes, byte[]> open = state.range(Bytes.wrap(new byte[] {OPEN}),
                Bytes.wrap(new byte[] {OPEN + 1}))) {
            while (open.hasNext()) {
                KeyValue<Bytes, byte[]> entry = open.next();
                long hour = hour(entry.key);
                if (hour > dueThrough) {
                    break; // ordered by hour: the rest is not due yet
                }
                HourlyKey key = key(entry.key);
                UsageSums hourSums = sums.fetch(key, hour);
                if (hourSums != null) {
                    emit(HourlyUsage.FINAL, key, hour, hourSums, now);
                }
                done.add(entry.key);
            }
        }
        try (KeyValueIterator<Bytes, byte[]> late = state.range(Bytes.wrap(new byte[] {LATE}),
                Bytes.wrap(new byte[] {LATE + 1}))) {
            while (late.hasNext()) {
                KeyValue<Bytes, byte[]> entry = late.next();
                emit(HourlyUsage.LATE, key(entry.key), hour(entry.key),
                        JsonSerde.sums().deserializer().deserialize(null, entry.value), now);
                done.add(entry.key);
            }
        }
        done.forEach(state::delete);
        if (now > closedUpTo) {
            state.put(CLOSED_UP_TO, ByteBuffer.allocate(Long.BYTES).putLong(now).array());
        }
    }

    private long closedUpTo() {
        byte[] value = state.get(CLOSED_UP_TO);
        return value == null ? Long.MIN_VALUE : ByteBuffer.wrap(value).getLong();
    }

    private void emit(String kind, HourlyKey key, long hour, UsageSums s, long now) {
        // the same id for the same record written again after a crash; a late record is one per close
        String id = UUID.nameUUIDFromBytes((kind + '\u0000' + key.namespace() + '\u0000' + key.clientName()
                + '\u0000' + key.model() + '\u0000' + key.route() + '\u0000' + hour
                + (HourlyUsage.LATE.equals(kind) ? "\u0000" + now : "")).getBytes(StandardCharsets.UTF_8)).toString();
        HourlyUsage record = new HourlyUsage(HourlyUsage.SCHEMA_VERSION, id, kind, hour, hour + HOUR,
                key.namespace(), key.clientName(), key.model(), key.route(), s.requests(), s.promptTokens(),
                s.completionTokens(), s.totalTokens(), s.cachedTokens(), s.reasoningTokens(), s.audioSeconds(),
                s.cost(), s.unpricedRequests(), s.firstEventAt(), s.lastEventAt(), now);
        RecordHeaders headers = new RecordHeaders();
        HourlyUsageCodec.writeHeaders(record, context.applicationId(), headers);
        context.forward(new Record<>(key.clientName(), record, now, headers));
    }

    private static Bytes entry(byte kind, long hour, HourlyKey key) {
        byte[] keyBytes = JsonSerde.hourlyKeyBytes(key);
        return Bytes.wrap(ByteBuffer.allocate(1 + Long.BYTES + keyBytes.length).put(kind).putLong(hour)
                .put(keyBytes).array());
    }

    private static long hour(Bytes entry) {
        return ByteBuffer.wrap(entry.get(), 1, Long.BYTES).getLong();
    }

    private static HourlyKey key(Bytes entry) {
        return JsonSerde.hourlyKey(entry.get(), 1 + Long.BYTES);
    }
}
