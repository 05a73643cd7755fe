package dev.tokentap.aggregator.usage;

import java.time.Duration;
import java.util.Set;

/** Answers {@link UsageQuery}s from the hourly sums: for the whole fleet of replicas, or this replica's part. */
public interface UsageRanges {

    /**
     * The usage of every replica's part, summed.
     *
     * @throws Unavailable while a part cannot be read (starting, rebalancing, a replica not answering)
     */
    UsageRows fleet(UsageQuery query);

    /**
     * The usage in this replica's hourly store partitions {@code partitions}.
     *
     * @throws Unavailable when one of them is not active here (any more)
     */
    UsageRows local(UsageQuery query, Set<Integer> partitions);

    /** How long the hourly sums are kept. */
    Duration retention();

    /** A query that cannot be answered exactly right now; asking again later may. */
    final class Unavailable extends RuntimeException {
        public Unavailable(String message) {
            super(message);
        }

        public Unavailable(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
