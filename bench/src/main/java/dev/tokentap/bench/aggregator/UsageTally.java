package dev.tokentap.bench.aggregator;

import dev.tokentap.event.Routes;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.testkit.metrics.PrometheusText;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Requests and token sums per label set: either expected, added up from the events as they were sent, or as read
 * from a scrape of the aggregator's {@code /metrics}. Two tallies that are {@link #differences equal} mean every
 * event was counted exactly once.
 */
final class UsageTally {

    /** A label set of the usage families, without {@code namespace} (always {@code unknown} here). */
    record Series(String client, String path, String host, String model) {
    }

    private static final int REQUESTS = 0;
    private static final int PROMPT = 1;
    private static final int COMPLETION = 2;
    private static final int TOTAL = 3;
    private static final int CACHED = 4;
    private static final String[] FAMILIES = {"vllm_requests_total", "vllm_prompt_tokens_total",
            "vllm_completion_tokens_total", "vllm_total_tokens_total", "vllm_cached_prompt_tokens_total"};

    private final Map<Series, long[]> sums = new HashMap<>();
    private long requests;

    /** The label set the aggregator counts {@code event} under when it knows no pods. */
    static Series seriesOf(UsageEvent event) {
        return new Series(event.clientAddress(), Routes.fullPath(event.route()), event.proxyHost(), event.model());
    }

    /** Adds one event the way the aggregator's totals do. */
    void add(UsageEvent event) {
        long[] s = sums.computeIfAbsent(seriesOf(event), k -> new long[FAMILIES.length]);
        s[REQUESTS]++;
        s[PROMPT] += event.promptTokensOrZero();
        s[COMPLETION] += event.completionTokensOrZero();
        s[TOTAL] += event.totalTokensOrSum();
        s[CACHED] += event.cachedTokensOrZero();
        requests++;
    }

    /** The usage families of a scrape; {@code vllm_requests_total} is summed over {@code outcome}. */
    static UsageTally of(PrometheusText metrics) {
        UsageTally tally = new UsageTally();
        for (int family = 0; family < FAMILIES.length; family++) {
            for (PrometheusText.Sample sample : metrics.samples(FAMILIES[family])) {
                Map<String, String> l = sample.labels();
                Series series = new Series(l.get("client_name"), l.get("full_path"), l.get("hostname"),
                        l.get("model"));
                long value = sample.longValue();
                tally.sums.computeIfAbsent(series, k -> new long[FAMILIES.length])[family] += value;
                if (family == REQUESTS) {
                    tally.requests += value;
                }
            }
        }
        return tally;
    }

    /** Requests counted, over every label set. */
    long requests() {
        return requests;
    }

    /** Requests counted under {@code series}. */
    long requests(Series series) {
        long[] s = sums.get(series);
        return s == null ? 0 : s[REQUESTS];
    }

    /** The label sets with any count. */
    Set<Series> series() {
        return sums.keySet();
    }

    /** One line per label set whose requests or token sums differ between the two, or that only one has. */
    List<String> differences(UsageTally other) {
        Set<Series> all = new HashSet<>(sums.keySet());
        all.addAll(other.sums.keySet());
        List<String> found = new ArrayList<>();
        long[] none = new long[FAMILIES.length];
        for (Series series : all) {
            long[] mine = sums.getOrDefault(series, none);
            long[] theirs = other.sums.getOrDefault(series, none);
            if (!Arrays.equals(mine, theirs)) {
                found.add(series + ": " + Arrays.toString(mine) + " vs " + Arrays.toString(theirs));
            }
        }
        return found;
    }
}
