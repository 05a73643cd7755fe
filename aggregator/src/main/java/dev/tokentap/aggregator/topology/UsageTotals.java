package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import java.util.Collections;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Running totals of one label set: the value of the totals store. Immutable; {@link #add} returns a new one.
 *
 * <p>Totals never fall and never wrap: an event's usage is added only when {@link UsageValues#countable} (none
 * negative, none above {@link UsageValues#MAX}), and a sum that would pass {@link Long#MAX_VALUE} stays there
 * (saturates) rather than turning negative. Totals that an older version saved negative (it added negative values,
 * or wrapped) are read as 0 and count on from there: a counter Prometheus can take, where a negative one made
 * every scrape fail.
 *
 * @param requests requests per outcome; keys are {@link Outcome#ALL} or {@link #OTHER_OUTCOME}
 */
@JsonPropertyOrder({"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "requests", "duration",
        "ttft"})
public record UsageTotals(
        @JsonProperty("prompt_tokens") long promptTokens,
        @JsonProperty("completion_tokens") long completionTokens,
        @JsonProperty("total_tokens") long totalTokens,
        @JsonProperty("cached_tokens") long cachedTokens,
        @JsonProperty("requests") SortedMap<String, Long> requests,
        @JsonProperty("duration") LatencyHistogram duration,
        @JsonProperty("ttft") LatencyHistogram ttft) {

    /** The outcome label of an event whose outcome this version does not know. */
    public static final String OTHER_OUTCOME = "other";

    public static final UsageTotals EMPTY = new UsageTotals(0, 0, 0, 0, new TreeMap<>());

    public UsageTotals {
        promptTokens = Math.max(0, promptTokens);
        completionTokens = Math.max(0, completionTokens);
        totalTokens = Math.max(0, totalTokens);
        cachedTokens = Math.max(0, cachedTokens);
        SortedMap<String, Long> counted = new TreeMap<>();
        if (requests != null) {
            requests.forEach((outcome, count) -> {
                if (outcome != null && count != null) {
                    counted.put(outcome, Math.max(0, count));
                }
            });
        }
        requests = Collections.unmodifiableSortedMap(counted);
        // totals written before the histograms existed have none: they start empty
        duration = duration == null ? LatencyHistogram.EMPTY : duration;
        ttft = ttft == null ? LatencyHistogram.EMPTY : ttft;
    }

    /** Totals without latency histograms. */
    public UsageTotals(long promptTokens, long completionTokens, long totalTokens, long cachedTokens,
                       SortedMap<String, Long> requests) {
        this(promptTokens, completionTokens, totalTokens, cachedTokens, requests, null, null);
    }

    /** These totals plus one event. */
    public UsageTotals add(UsageEvent event) {
        SortedMap<String, Long> counted = new TreeMap<>(requests);
        counted.merge(outcomeLabel(event.outcome()), 1L, UsageTotals::plus);
        LatencyHistogram nextDuration = duration;
        if (event.startedAt() != null && event.endedAt() != null) {
            nextDuration = duration.observe(LatencyHistogram.DURATION_BOUNDS, event.endedAt() - event.startedAt());
        }
        LatencyHistogram nextTtft = ttft;
        if (event.stream() && event.startedAt() != null && event.firstByteAt() != null) {
            // only a stream's first body byte is its first token; a JSON body's first byte is the whole answer
            nextTtft = ttft.observe(LatencyHistogram.TTFT_BOUNDS, event.firstByteAt() - event.startedAt());
        }
        if (!UsageValues.countable(event)) {
            // the request counts; usage that can't be true adds nothing
            return new UsageTotals(promptTokens, completionTokens, totalTokens, cachedTokens, counted, nextDuration,
                    nextTtft);
        }
        return new UsageTotals(
                plus(promptTokens, event.promptTokensOrZero()),
                plus(completionTokens, event.completionTokensOrZero()),
                plus(totalTokens, event.totalTokensOrSum()),
                plus(cachedTokens, event.cachedTokensOrZero()),
                counted,
                nextDuration,
                nextTtft);
    }

    /** {@code a + b} for counts (never negative), held at {@link Long#MAX_VALUE} rather than wrapping. */
    static long plus(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /** All requests, whatever their outcome. */
    public long requestCount() {
        return requests.values().stream().mapToLong(Long::longValue).reduce(0, UsageTotals::plus);
    }

    /** Requests with {@code outcome}, 0 if none. */
    public long requests(String outcome) {
        return requests.getOrDefault(outcome, 0L);
    }

    /** {@code outcome} if this version knows it, else {@link #OTHER_OUTCOME}: keeps the label bounded. */
    public static String outcomeLabel(String outcome) {
        return outcome != null && Outcome.ALL.contains(outcome) ? outcome : OTHER_OUTCOME;
    }
}
