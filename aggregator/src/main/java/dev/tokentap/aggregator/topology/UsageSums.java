package dev.tokentap.aggregator.topology;

import dev.tokentap.event.Cost;
import dev.tokentap.event.UsageEvent;
import java.math.BigDecimal;
import java.util.Collections;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The sums of some requests: of one client, model and route in one hour (the hourly window store's value and the
 * body of an hourly record), or of any group of those (the answer of {@code /api/v1/usage}). Exact: counts are
 * 64-bit and saturate rather than wrap, audio seconds and cost are decimals. Immutable.
 *
 * @param requests     requests per outcome
 * @param firstEventAt earliest {@code started_at} counted, null when none
 * @param lastEventAt  latest {@code started_at} counted, null when none
 */
public record UsageSums(SortedMap<String, Long> requests, long promptTokens, long completionTokens, long totalTokens,
                        long cachedTokens, long reasoningTokens, BigDecimal audioSeconds, Cost cost,
                        long unpricedRequests, Long firstEventAt, Long lastEventAt) {

    public static final UsageSums EMPTY = new UsageSums(null, 0, 0, 0, 0, 0, null, null, 0, null, null);

    public UsageSums {
        requests = Collections.unmodifiableSortedMap(requests == null ? new TreeMap<>() : new TreeMap<>(requests));
        audioSeconds = audioSeconds == null ? BigDecimal.ZERO : audioSeconds;
        cost = cost == null ? Cost.NONE : cost;
    }

    /** These sums plus one request, counted at {@code at} (its {@code started_at}, as the hour was chosen). */
    UsageSums add(Counted counted, long at) {
        UsageEvent event = counted.event();
        SortedMap<String, Long> nextRequests = new TreeMap<>(requests);
        nextRequests.merge(UsageTotals.outcomeLabel(event.outcome()), 1L, UsageTotals::plus);
        boolean countable = UsageValues.countable(event);
        return new UsageSums(nextRequests,
                countable ? UsageTotals.plus(promptTokens, event.promptTokensOrZero()) : promptTokens,
                countable ? UsageTotals.plus(completionTokens, event.completionTokensOrZero()) : completionTokens,
                countable ? UsageTotals.plus(totalTokens, event.totalTokensOrSum()) : totalTokens,
                countable ? UsageTotals.plus(cachedTokens, event.cachedTokensOrZero()) : cachedTokens,
                countable ? UsageTotals.plus(reasoningTokens, UsageValues.reasoningTokensOrZero(event))
                        : reasoningTokens,
                countable ? UsageValues.plusAudio(audioSeconds, event) : audioSeconds,
                counted.cost() == null ? cost : cost.plus(counted.cost()),
                counted.unpriced() ? UsageTotals.plus(unpricedRequests, 1) : unpricedRequests,
                firstEventAt == null ? at : Math.min(firstEventAt, at),
                lastEventAt == null ? at : Math.max(lastEventAt, at));
    }

    /** The sums of both. */
    public UsageSums plus(UsageSums other) {
        SortedMap<String, Long> sum = new TreeMap<>(requests);
        other.requests.forEach((outcome, n) -> sum.merge(outcome, n, UsageTotals::plus));
        return new UsageSums(sum,
                UsageTotals.plus(promptTokens, other.promptTokens),
                UsageTotals.plus(completionTokens, other.completionTokens),
                UsageTotals.plus(totalTokens, other.totalTokens),
                UsageTotals.plus(cachedTokens, other.cachedTokens),
                UsageTotals.plus(reasoningTokens, other.reasoningTokens),
                audioSeconds.add(other.audioSeconds),
                cost.plus(other.cost),
                UsageTotals.plus(unpricedRequests, other.unpricedRequests),
                min(firstEventAt, other.firstEventAt),
                max(lastEventAt, other.lastEventAt));
    }

    /** All requests, whatever their outcome. */
    public long requestCount() {
        return requests.values().stream().mapToLong(Long::longValue).reduce(0, UsageTotals::plus);
    }

    private static Long min(Long a, Long b) {
        return a == null ? b : b == null ? a : Long.valueOf(Math.min(a, b));
    }

    private static Long max(Long a, Long b) {
        return a == null ? b : b == null ? a : Long.valueOf(Math.max(a, b));
    }
}
