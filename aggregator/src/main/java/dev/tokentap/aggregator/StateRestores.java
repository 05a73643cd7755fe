package dev.tokentap.aggregator;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells what Kafka Streams reads back from the changelogs into the local stores: counted per store on
 * {@link AggregatorMetrics#RESTORED_RECORDS}, and logged once per changelog partition that restored anything. A
 * restart on a kept state directory restores nothing (and logs nothing here); a new or wiped one restores
 * everything, which is what an operator wants to see.
 */
final class StateRestores implements StateRestoreListener {

    private static final Logger LOG = LoggerFactory.getLogger(StateRestores.class);

    private final AggregatorMetrics metrics;

    StateRestores(AggregatorMetrics metrics) {
        this.metrics = metrics;
    }

    @Override
    public void onRestoreStart(TopicPartition changelog, String store, long startingOffset, long endingOffset) {
        LOG.debug("state restore starting store={} changelog={} from_offset={} to_offset={}", store, changelog,
                startingOffset, endingOffset);
    }

    @Override
    public void onBatchRestored(TopicPartition changelog, String store, long batchEndOffset, long restored) {
        metrics.restored(store, restored);
    }

    @Override
    public void onRestoreEnd(TopicPartition changelog, String store, long totalRestored) {
        if (totalRestored > 0) {
            LOG.info("state restore done store={} changelog={} records={}", store, changelog, totalRestored);
        } else {
            LOG.debug("state restore done store={} changelog={} records=0", store, changelog);
        }
    }

    @Override
    public void onRestoreSuspended(TopicPartition changelog, String store, long totalRestored) {
        LOG.info("state restore suspended store={} changelog={} records={}", store, changelog, totalRestored);
    }
}
