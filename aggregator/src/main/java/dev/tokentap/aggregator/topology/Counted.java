package dev.tokentap.aggregator.topology;

import dev.tokentap.event.Cost;
import dev.tokentap.event.UsageEvent;

/**
 * What the totals and the hourly sums read of one request, as it travels through a repartition topic
 * ({@link CountedUsageSerde}): the event's outcome, counts and times, and its cost.
 *
 * @param event    the event (of which only the counted part survives a repartition)
 * @param cost     what it cost, null when it has no price
 * @param unpriced true when there is a price list but no price for the event's model at its time
 */
record Counted(UsageEvent event, Cost cost, boolean unpriced) {
}
