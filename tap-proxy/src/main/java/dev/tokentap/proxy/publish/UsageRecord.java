package dev.tokentap.proxy.publish;

import dev.tokentap.event.CloudEventHeaders;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;

/**
 * A usage event as the Kafka record that carries it, encoded once: the key (the client address, so that one
 * client's events stay in order on one partition), the CloudEvents headers and the event's JSON. What the spool
 * keeps, and what a producer of bytes sends as it is.
 *
 * @param key     the client address in UTF-8, or null
 * @param headers the record's headers, in order; neither the array nor a header's value is changed once made
 * @param value   the event's JSON
 */
record UsageRecord(byte[] key, Header[] headers, byte[] value) {

    /** The record of {@code event}: what the usage event serde and a string key would have made of it. */
    static UsageRecord of(UsageEvent event, UsageEventCodec codec) {
        String key = event.clientAddress();
        return new UsageRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8), CloudEventHeaders.of(event),
                codec.encode(event));
    }

    /** The record for a producer with byte-array serializers, to {@code topic}, partitioned by its key. */
    ProducerRecord<byte[], byte[]> toProducerRecord(String topic) {
        return new ProducerRecord<>(topic, null, null, key, value, Arrays.asList(headers));
    }
}
