package dev.tokentap.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokentap.event.Cost;
import dev.tokentap.event.HourlyUsage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Invoice rows from hourly records: every record of an hour in {@code [from, to)}, final and late, summed per group
 * (some of namespace, client_name, model, route), exactly. A record read twice (same {@code record_id}) counts once.
 * Pure; the worked example of a billing consumer that {@code tokentap report} prints.
 */
final class InvoiceRows {

    static final List<String> DIMENSIONS = List.of("namespace", "client_name", "model", "route");
    static final List<String> COLUMNS = List.of("requests", "late_requests", "prompt_tokens", "cached_tokens",
            "completion_tokens", "reasoning_tokens", "total_tokens", "audio_seconds", "unpriced_requests", "cost",
            "currency");

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonGenerator.Feature.WRITE_BIGDECIMAL_AS_PLAIN).build();

    private final long from;
    private final long to;
    private final List<String> groupBy;
    private final Map<List<String>, Sums> rows = new TreeMap<>((a, b) -> {
        for (int i = 0; i < a.size(); i++) {
            int c = a.get(i).compareTo(b.get(i));
            if (c != 0) {
                return c;
            }
        }
        return 0;
    });
    private final Set<String> seen = new HashSet<>();
    private long duplicates;

    InvoiceRows(long from, long to, List<String> groupBy) {
        for (String dimension : groupBy) {
            if (!DIMENSIONS.contains(dimension)) {
                throw new IllegalArgumentException("--group-by takes " + String.join(", ", DIMENSIONS) + "; not '"
                        + dimension + "'");
            }
        }
        this.from = from;
        this.to = to;
        this.groupBy = List.copyOf(groupBy);
    }

    /** Adds a record if its hour is in the range and its id was not seen; true if it was added. */
    boolean add(HourlyUsage record) {
        if (record.hourStart() < from || record.hourStart() >= to) {
            return false;
        }
        if (!seen.add(record.recordId())) {
            duplicates++;
            return false;
        }
        List<String> key = new ArrayList<>();
        for (String dimension : groupBy) {
            key.add(switch (dimension) {
                case "namespace" -> record.namespace();
                case "client_name" -> record.clientName();
                case "model" -> record.model();
                default -> record.route();
            });
        }
        rows.computeIfAbsent(key, k -> new Sums()).add(record);
        return true;
    }

    /** Records skipped because their {@code record_id} was read before. */
    long duplicates() {
        return duplicates;
    }

    Map<List<String>, Sums> rows() {
        return rows;
    }

    /** CSV with a header line: the group's columns, then {@link #COLUMNS}. */
    String csv() {
        StringBuilder out = new StringBuilder();
        List<String> header = new ArrayList<>(groupBy);
        header.addAll(COLUMNS);
        out.append(String.join(",", header)).append('\n');
        rows.forEach((key, s) -> {
            List<String> cells = new ArrayList<>();
            key.forEach(value -> cells.add(csvCell(value)));
            cells.add(Long.toString(s.requests));
            cells.add(Long.toString(s.lateRequests));
            cells.add(Long.toString(s.prompt));
            cells.add(Long.toString(s.cached));
            cells.add(Long.toString(s.completion));
            cells.add(Long.toString(s.reasoning));
            cells.add(Long.toString(s.total));
            cells.add(s.audio.toPlainString());
            cells.add(Long.toString(s.unpriced));
            // one currency in practice; several only if the price list changed currency within the range
            cells.add(String.join(";", s.cost.amounts().values().stream().map(Cost::plain).toList()));
            cells.add(String.join(";", s.cost.amounts().keySet()));
            out.append(String.join(",", cells)).append('\n');
        });
        return out.toString();
    }

    /** A JSON array of rows; {@code cost} is an object of currency to decimal string. */
    String json() {
        ArrayNode out = JSON.createArrayNode();
        rows.forEach((key, s) -> {
            ObjectNode row = out.addObject();
            for (int i = 0; i < groupBy.size(); i++) {
                row.put(groupBy.get(i), key.get(i));
            }
            row.put("requests", s.requests);
            row.put("late_requests", s.lateRequests);
            row.put("prompt_tokens", s.prompt);
            row.put("cached_tokens", s.cached);
            row.put("completion_tokens", s.completion);
            row.put("reasoning_tokens", s.reasoning);
            row.put("total_tokens", s.total);
            row.put("audio_seconds", s.audio);
            row.put("unpriced_requests", s.unpriced);
            ObjectNode cost = row.putObject("cost");
            s.cost.amounts().forEach((currency, amount) -> cost.put(currency, Cost.plain(amount)));
        });
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(out) + "\n";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String csvCell(String value) {
        if (value.contains(",") || value.contains("\"") || value.contains("\n")) {
            return "\"" + value.replace("\"", "\"\"") + "\"";
        }
        return value;
    }

    /** One row's sums. */
    static final class Sums {
        long requests;
        long lateRequests;
        long prompt;
        long cached;
        long completion;
        long reasoning;
        long total;
        BigDecimal audio = BigDecimal.ZERO;
        long unpriced;
        Cost cost = Cost.NONE;

        void add(HourlyUsage r) {
            long n = r.requestCount();
            requests += n;
            if (HourlyUsage.LATE.equals(r.kind())) {
                lateRequests += n;
            }
            prompt += r.promptTokens();
            cached += r.cachedTokens();
            completion += r.completionTokens();
            reasoning += r.reasoningTokens();
            total += r.totalTokens();
            audio = audio.add(r.audioSeconds());
            unpriced += r.unpricedRequests();
            cost = cost.plus(r.costOrNone());
        }
    }
}
