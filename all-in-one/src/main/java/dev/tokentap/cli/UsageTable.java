package dev.tokentap.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reads the aggregator's {@code /api/v1/usage} and renders it as a per-client table for a terminal. */
final class UsageTable {

    /** One client's totals summed over routes, models and proxies. */
    record ClientUsage(String namespace, String client, long requests, long promptTokens, long completionTokens,
                       long totalTokens) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final URI usageUri;

    UsageTable(String aggregatorBaseUrl) {
        this.usageUri = URI.create(aggregatorBaseUrl + "/api/v1/usage");
    }

    /** The aggregator's current totals per client, largest first. */
    List<ClientUsage> fetch() throws IOException, InterruptedException {
        HttpResponse<byte[]> response = http.send(HttpRequest.newBuilder(usageUri).timeout(Duration.ofSeconds(5))
                .GET().build(), HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() != 200) {
            throw new IOException("aggregator answered " + response.statusCode() + " for " + usageUri);
        }
        return perClient(JSON.readTree(response.body()));
    }

    /** Sums the aggregator's rows (one per label set) into one row per namespace and client. */
    static List<ClientUsage> perClient(JsonNode rows) {
        Map<String, long[]> sums = new LinkedHashMap<>();
        Map<String, String[]> names = new LinkedHashMap<>();
        for (JsonNode row : rows) {
            String namespace = row.path("namespace").asText("unknown");
            String client = row.path("client_name").asText("unknown");
            String key = namespace + '\u0000' + client;
            names.putIfAbsent(key, new String[] {namespace, client});
            long[] s = sums.computeIfAbsent(key, k -> new long[4]);
            for (JsonNode n : row.path("requests")) {
                s[0] += n.asLong();
            }
            s[1] += row.path("prompt_tokens").asLong();
            s[2] += row.path("completion_tokens").asLong();
            s[3] += row.path("total_tokens").asLong();
        }
        List<ClientUsage> out = new ArrayList<>();
        sums.forEach((key, s) -> out.add(new ClientUsage(names.get(key)[0], names.get(key)[1], s[0], s[1], s[2], s[3])));
        out.sort(Comparator.comparingLong(ClientUsage::totalTokens).reversed().thenComparing(ClientUsage::client));
        return out;
    }

    /** Requests counted over all clients. */
    static long requests(List<ClientUsage> rows) {
        return rows.stream().mapToLong(ClientUsage::requests).sum();
    }

    /** The rows as an aligned text table with a header line. */
    static String render(List<ClientUsage> rows) {
        String format = "%-10s %-16s %9s %14s %18s %13s%n";
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(format, "NAMESPACE", "CLIENT", "REQUESTS", "PROMPT_TOKENS", "COMPLETION_TOKENS",
                "TOTAL_TOKENS"));
        for (ClientUsage r : rows) {
            sb.append(String.format(format, r.namespace(), r.client(), r.requests(), r.promptTokens(),
                    r.completionTokens(), r.totalTokens()));
        }
        return sb.toString();
    }
}
