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
@JsonPropertyOrder({"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "requests"})
public record UsageTotals(
        @JsonProperty("prompt_tokens") long promptTokens,
        @JsonProperty("completion_tokens") long completionTokens,
        @JsonProperty("total_tokens") long totalTokens,
        @JsonProperty("cached_tokens") long cachedTokens,
        @JsonProperty("requests") SortedMap<String, Long> requests) {

    /** The outcome label of an event whose outcome this version does not know. */
    public static final String OTHER_OUTCOME = "other";

    public static final UsageTotals EMPTY = new UsageTotals(0, 0, 0, 0, new TreeMap<>());

    public UsageTotals {
        requests = Collections.unmodifiableSortedMap(requests == null ? new TreeMap<>() : new TreeMap<>(requests));
    }

    /** These totals plus one event. */
    public UsageTotals add(UsageEvent event) {
        SortedMap<String, Long> counted = new TreeMap<>(requests);
        counted.merge(outcomeLabel(event.outcome()), 1L, Long::sum);
        return new UsageTotals(
                promptTokens + event.promptTokensOrZero(),
                completionTokens + event.completionTokensOrZero(),
                totalTokens + event.totalTokensOrSum(),
                cachedTokens + event.cachedTokensOrZero(),
                counted);
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
