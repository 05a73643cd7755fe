package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.tokentap.event.Cost;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import java.math.BigDecimal;
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
 * @param reasoningTokens sum of {@code reasoning_tokens}
 * @param audioSeconds    sum of {@code audio_seconds}, exact
 * @param cost            sum of the requests' costs per currency
 * @param unpriced        requests that had no price while there was a price list
 */
@JsonPropertyOrder({"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "requests", "duration",
        "ttft", "reasoning_tokens", "audio_seconds", "cost", "unpriced"})
public record UsageTotals(
        @JsonProperty("prompt_tokens") long promptTokens,
        @JsonProperty("completion_tokens") long completionTokens,
        @JsonProperty("total_tokens") long totalTokens,
        @JsonProperty("cached_tokens") long cachedTokens,
        @JsonProperty("requests") SortedMap<String, Long> requests,
        @JsonProperty("duration") LatencyHistogram duration,
        @JsonProperty("ttft") LatencyHistogram ttft,
        @JsonProperty("reasoning_tokens") long reasoningTokens,
        @JsonProperty("audio_seconds") BigDecimal audioSeconds,
        @JsonProperty("cost") Cost cost,
        @JsonProperty("unpriced") long unpriced) {

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
        reasoningTokens = Math.max(0, reasoningTokens);
        audioSeconds = audioSeconds == null || audioSeconds.signum() < 0 ? BigDecimal.ZERO : audioSeconds;
        cost = cost == null ? Cost.NONE : cost;
        unpriced = Math.max(0, unpriced);
    }

    /** Totals without latency histograms. */
    public UsageTotals(long promptTokens, long completionTokens, long totalTokens, long cachedTokens,
                       SortedMap<String, Long> requests) {
        this(promptTokens, completionTokens, totalTokens, cachedTokens, requests, null, null);
    }

    /** Totals of tokens and requests with latency histograms. */
    public UsageTotals(long promptTokens, long completionTokens, long totalTokens, long cachedTokens,
                       SortedMap<String, Long> requests, LatencyHistogram duration, LatencyHistogram ttft) {
        this(promptTokens, completionTokens, totalTokens, cachedTokens, requests, duration, ttft, 0, null, null, 0);
    }

    /** These totals plus one event without a price. */
    public UsageTotals add(UsageEvent event) {
        return add(new Counted(event, null, false));
    }

    /** These totals plus one request and its cost. */
    UsageTotals add(Counted counted) {
        UsageEvent event = counted.event();
        SortedMap<String, Long> requestsNow = new TreeMap<>(requests);
        requestsNow.merge(outcomeLabel(event.outcome()), 1L, UsageTotals::plus);
        LatencyHistogram nextDuration = duration;
        if (event.startedAt() != null && event.endedAt() != null) {
            nextDuration = duration.observe(LatencyHistogram.DURATION_BOUNDS, event.endedAt() - event.startedAt());
        }
        LatencyHistogram nextTtft = ttft;
        if (event.stream() && event.startedAt() != null && event.firstByteAt() != null) {
            // only a stream's first body byte is its first token; a JSON body's first byte is the whole answer
            nextTtft = ttft.observe(LatencyHistogram.TTFT_BOUNDS, event.firstByteAt() - event.startedAt());
        }
        Cost nextCost = counted.cost() == null ? cost : cost.plus(counted.cost());
        long nextUnpriced = counted.unpriced() ? plus(unpriced, 1) : unpriced;
        if (!UsageValues.countable(event)) {
            // the request counts; usage that can't be true adds nothing
            return new UsageTotals(promptTokens, completionTokens, totalTokens, cachedTokens, requestsNow,
                    nextDuration, nextTtft, reasoningTokens, audioSeconds, nextCost, nextUnpriced);
        }
        return new UsageTotals(
                plus(promptTokens, event.promptTokensOrZero()),
                plus(completionTokens, event.completionTokensOrZero()),
                plus(totalTokens, event.totalTokensOrSum()),
                plus(cachedTokens, event.cachedTokensOrZero()),
                requestsNow,
                nextDuration,
                nextTtft,
                plus(reasoningTokens, UsageValues.reasoningTokensOrZero(event)),
                UsageValues.plusAudio(audioSeconds, event),
                nextCost,
                nextUnpriced);
    }

    /** {@code a + b} for counts (never negative), held at {@link Long#MAX_VALUE} rather than wrapping. */
    public static long plus(long a, long b) {
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
