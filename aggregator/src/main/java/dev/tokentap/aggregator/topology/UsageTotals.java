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
        requests = Collections.unmodifiableSortedMap(requests == null ? new TreeMap<>() : new TreeMap<>(requests));
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
        counted.merge(outcomeLabel(event.outcome()), 1L, Long::sum);
        LatencyHistogram nextDuration = duration;
        if (event.startedAt() != null && event.endedAt() != null) {
            nextDuration = duration.observe(LatencyHistogram.DURATION_BOUNDS, event.endedAt() - event.startedAt());
        }
        LatencyHistogram nextTtft = ttft;
        if (event.stream() && event.startedAt() != null && event.firstByteAt() != null) {
            // only a stream's first body byte is its first token; a JSON body's first byte is the whole answer
            nextTtft = ttft.observe(LatencyHistogram.TTFT_BOUNDS, event.firstByteAt() - event.startedAt());
        }
        return new UsageTotals(
                promptTokens + event.promptTokensOrZero(),
                completionTokens + event.completionTokensOrZero(),
                totalTokens + event.totalTokensOrSum(),
                cachedTokens + event.cachedTokensOrZero(),
                counted,
                nextDuration,
                nextTtft);
    }

    /** All requests, whatever their outcome. */
    public long requestCount() {
        return requests.values().stream().mapToLong(Long::longValue).sum();
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
