package dev.tokentap.aggregator.topology;

import java.time.Clock;
import java.util.Objects;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * Stamps every usage record with the aggregator's own clock as it is read, so that no producer's clock reaches the
 * topology's time: not the proxy's record timestamp, not the event's {@code started_at}. The de-duplication window,
 * the changelogs' retention and the output records' timestamps all follow this one clock; a proxy whose clock is
 * years off can neither stall them nor make them expire early.
 */
final class ProcessingTime implements TimestampExtractor {

    private final Clock clock;

    ProcessingTime(Clock clock) {
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
        return clock.millis();
    }
}
