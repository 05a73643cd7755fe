package dev.tokentap.aggregator.usage;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokentap.aggregator.topology.HourlyKey;
import dev.tokentap.aggregator.topology.UsageSums;
import dev.tokentap.event.Cost;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The answer to a {@link UsageQuery}: sums per step and group, built from hourly sums, merged exactly across the
 * replicas that hold them, and written as the API's JSON. Pure; not thread-safe.
 */
public final class UsageRows {

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(JsonGenerator.Feature.WRITE_BIGDECIMAL_AS_PLAIN)
            .build();
    private static final Comparator<Row> ORDER = Comparator.comparingLong(Row::start)
            .thenComparing(Row::groups, (a, b) -> {
                for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
                    int c = a.get(i).compareTo(b.get(i));
                    if (c != 0) {
                        return c;
                    }
                }
                return Integer.compare(a.size(), b.size());
            });

    private final UsageQuery query;
    private final SortedMap<Row, UsageSums> rows = new TreeMap<>(ORDER);

    public UsageRows(UsageQuery query) {
        this.query = query;
    }

    /** A step and the group's values, in the order of the query's {@code group_by}. */
    public record Row(long start, List<String> groups) {
    }

    /** Adds one key's sums of one hour; ignored when the hour lies outside the query. */
    public void add(HourlyKey key, long hour, UsageSums sums) {
        if (hour < query.from() || hour >= query.to()) {
            return;
        }
        List<String> groups = new ArrayList<>(query.groupBy().size());
        for (String dimension : query.groupBy()) {
            groups.add(key.dimension(dimension));
        }
        rows.merge(new Row(query.bucketOf(hour), List.copyOf(groups)), sums, UsageSums::plus);
    }

    /** Adds every row of {@code other} (another replica's part). */
    public void addAll(UsageRows other) {
        other.rows.forEach((row, sums) -> rows.merge(row, sums, UsageSums::plus));
    }

    public SortedMap<Row, UsageSums> rows() {
        return rows;
    }

    /** The API's JSON. */
    public byte[] toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("from", Instant.ofEpochMilli(query.from()).toString());
        root.put("to", Instant.ofEpochMilli(query.to()).toString());
        root.put("step", query.stepName());
        ArrayNode groupBy = root.putArray("group_by");
        query.groupBy().forEach(groupBy::add);
        ArrayNode out = root.putArray("rows");
        rows.forEach((row, s) -> {
            ObjectNode r = out.addObject();
            r.put("start", Instant.ofEpochMilli(row.start()).toString());
            r.put("end", Instant.ofEpochMilli(Math.min(row.start() + query.step().toMillis(), query.to())).toString());
            for (int i = 0; i < query.groupBy().size(); i++) {
                r.put(query.groupBy().get(i), row.groups().get(i));
            }
            ObjectNode requests = r.putObject("requests");
            s.requests().forEach(requests::put);
            r.put("request_count", s.requestCount());
            r.put("prompt_tokens", s.promptTokens());
            r.put("completion_tokens", s.completionTokens());
            r.put("total_tokens", s.totalTokens());
            r.put("cached_tokens", s.cachedTokens());
            r.put("reasoning_tokens", s.reasoningTokens());
            r.put("audio_seconds", s.audioSeconds());
            ObjectNode cost = r.putObject("cost");
            s.cost().amounts().forEach((currency, amount) -> cost.put(currency, Cost.plain(amount)));
            r.put("unpriced_requests", s.unpricedRequests());
            if (s.firstEventAt() != null) {
                r.put("first_event_at", s.firstEventAt());
                r.put("last_event_at", s.lastEventAt());
            }
        });
        try {
            return JSON.writeValueAsBytes(root);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads rows another replica wrote with {@link #toJson()}, for the same query. */
    public static UsageRows fromJson(UsageQuery query, byte[] json) throws IOException {
        UsageRows parsed = new UsageRows(query);
        JsonNode root = JSON.readTree(json);
        for (JsonNode r : root.path("rows")) {
            long start = Instant.parse(r.path("start").asText()).toEpochMilli();
            List<String> groups = new ArrayList<>();
            for (String dimension : query.groupBy()) {
                groups.add(r.path(dimension).asText());
            }
            SortedMap<String, Long> requests = new TreeMap<>();
            r.path("requests").fields().forEachRemaining(e -> requests.put(e.getKey(), e.getValue().asLong()));
            SortedMap<String, BigDecimal> amounts = new TreeMap<>();
            r.path("cost").fields().forEachRemaining(e -> amounts.put(e.getKey(), new BigDecimal(e.getValue().asText())));
            UsageSums sums = new UsageSums(requests, r.path("prompt_tokens").asLong(),
                    r.path("completion_tokens").asLong(), r.path("total_tokens").asLong(),
                    r.path("cached_tokens").asLong(), r.path("reasoning_tokens").asLong(),
                    r.path("audio_seconds").decimalValue(), new Cost(amounts), r.path("unpriced_requests").asLong(),
                    r.has("first_event_at") ? r.path("first_event_at").asLong() : null,
                    r.has("last_event_at") ? r.path("last_event_at").asLong() : null);
            parsed.rows.merge(new Row(start, List.copyOf(groups)), sums, UsageSums::plus);
        }
        return parsed;
    }

    /** The rows as a map, for tests and the page. */
    public Map<Row, UsageSums> asMap() {
        return rows;
    }
}
