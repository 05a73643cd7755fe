package dev.tokentap.aggregator;

import dev.tokentap.aggregator.topology.HourlyKey;
import dev.tokentap.aggregator.topology.UsageSums;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.aggregator.usage.UsageQuery;
import dev.tokentap.aggregator.usage.UsageRanges;
import dev.tokentap.aggregator.usage.UsageRows;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsMetadata;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.HostInfo;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers {@code /api/v1/usage} for the whole fleet by Kafka Streams interactive queries: Streams' own metadata says
 * which replica holds which partition of the hourly window store ({@code application.server} is each replica's HTTP
 * address); this replica reads its own partitions and asks every other replica for exactly the partitions the
 * metadata gives it. Each partition is read once, from its active owner, or the query fails: the answer is exact or
 * there is none.
 */
final class FleetUsage implements UsageRanges {

    private static final Logger LOG = LoggerFactory.getLogger(FleetUsage.class);
    static final Duration PEER_TIMEOUT = Duration.ofSeconds(30);

    private final Supplier<KafkaStreams> streams;
    private final HostInfo self;
    private final String sourceTopic;
    private final IntSupplier partitions;
    private final String token;
    private final Duration retention;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /**
     * @param streams     the running Streams client (null until it exists)
     * @param self        this replica's {@code application.server}
     * @param sourceTopic the topic the hourly store's tasks read: their partitions are the store's
     * @param partitions  how many partitions that topic has
     * @param token       the bearer token every replica's API requires; null for none
     */
    FleetUsage(Supplier<KafkaStreams> streams, HostInfo self, String sourceTopic, IntSupplier partitions,
               String token, Duration retention) {
        this.streams = streams;
        this.self = self;
        this.sourceTopic = sourceTopic;
        this.partitions = partitions;
        this.token = token;
        this.retention = retention;
    }

    @Override
    public Duration retention() {
        return retention;
    }

    @Override
    public UsageRows fleet(UsageQuery query) {
        KafkaStreams kafkaStreams = running();
        Map<HostInfo, Set<Integer>> owners = new TreeMap<>((a, b) -> a.toString().compareTo(b.toString()));
        Set<Integer> covered = new TreeSet<>();
        for (StreamsMetadata metadata : kafkaStreams.streamsMetadataForStore(UsageTopology.HOURLY_STORE)) {
            for (TopicPartition tp : metadata.topicPartitions()) {
                if (tp.topic().equals(sourceTopic)) {
                    if (!covered.add(tp.partition())) {
                        throw new Unavailable("partition " + tp.partition() + " of the hourly sums has two owners "
                                + "while the replicas rebalance; ask again");
                    }
                    owners.computeIfAbsent(metadata.hostInfo(), h -> new TreeSet<>()).add(tp.partition());
                }
            }
        }
        int expected = partitionCount();
        if (covered.size() != expected) {
            throw new Unavailable("the replicas hold " + covered.size() + " of the " + expected
                    + " partitions of the hourly sums while they rebalance; ask again");
        }
        UsageRows rows = new UsageRows(query);
        owners.forEach((host, parts) -> rows.addAll(host.equals(self) ? local(query, parts)
                : remote(host, query, parts)));
        return rows;
    }

    @Override
    public UsageRows local(UsageQuery query, Set<Integer> parts) {
        KafkaStreams kafkaStreams = running();
        UsageRows rows = new UsageRows(query);
        for (int partition : parts) {
            try {
                ReadOnlyWindowStore<HourlyKey, UsageSums> store = kafkaStreams.store(StoreQueryParameters
                        .fromNameAndType(UsageTopology.HOURLY_STORE,
                                QueryableStoreTypes.<HourlyKey, UsageSums>windowStore())
                        .withPartition(partition));
                try (KeyValueIterator<Windowed<HourlyKey>, UsageSums> all = store.fetchAll(
                        Instant.ofEpochMilli(query.from()), Instant.ofEpochMilli(query.to() - 1))) {
                    all.forEachRemaining(kv -> rows.add(kv.key.key(), kv.key.window().start(), kv.value));
                }
            } catch (InvalidStateStoreException e) {
                throw new Unavailable("partition " + partition + " of the hourly sums is not readable on "
                        + self + " now (" + e.getMessage() + "); ask again", e);
            }
        }
        return rows;
    }

    private UsageRows remote(HostInfo host, UsageQuery query, Collection<Integer> parts) {
        URI uri = URI.create("http://" + host.host() + ":" + host.port() + "/api/v1/usage/local?"
                + query.toQueryString() + "&partitions=" + parts.stream().map(String::valueOf)
                .collect(Collectors.joining(",")));
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(PEER_TIMEOUT).GET();
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        try {
            HttpResponse<byte[]> response = http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
            if (response.statusCode() != 200) {
                throw new Unavailable("replica " + host + " answered " + response.statusCode() + " for partitions "
                        + parts + ": " + new String(response.body(), java.nio.charset.StandardCharsets.UTF_8));
            }
            return UsageRows.fromJson(query, response.body());
        } catch (IOException e) {
            LOG.debug("usage query to replica failed host={} error={}", host, e.toString());
            throw new Unavailable("replica " + host + " did not answer: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Unavailable("interrupted while asking replica " + host, e);
        }
    }

    private KafkaStreams running() {
        KafkaStreams kafkaStreams = streams.get();
        if (kafkaStreams == null || kafkaStreams.state() != KafkaStreams.State.RUNNING) {
            throw new Unavailable("usage is not readable while streams is "
                    + (kafkaStreams == null ? "starting" : kafkaStreams.state()) + "; ask again");
        }
        return kafkaStreams;
    }

    private int partitionCount() {
        try {
            return partitions.getAsInt();
        } catch (RuntimeException e) {
            throw new Unavailable("cannot learn the partitions of " + sourceTopic + ": " + e.getMessage(), e);
        }
    }
}
