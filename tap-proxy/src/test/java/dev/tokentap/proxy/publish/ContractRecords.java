package dev.tokentap.proxy.publish;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventSerde;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * What the usage log's contract makes of an event (a string key and {@link UsageEventSerde}'s serializer, which
 * writes the JSON and the CloudEvents headers), to compare the records the publishers send with, byte for byte.
 */
final class ContractRecords {

    private static final UsageEventCodec CODEC = new UsageEventCodec();

    private ContractRecords() {
    }

    /** The record as a producer of the contract's serde would send it: key, headers in order, and value. */
    static void assertIsTheContractsRecordOf(ProducerRecord<byte[], byte[]> record, UsageEvent event) {
        RecordHeaders headers = new RecordHeaders();
        byte[] value = new UsageEventSerde.UsageEventSerializer().serialize(record.topic(), headers, event);
        byte[] key = new StringSerializer().serialize(record.topic(), event.clientAddress());
        assertThat(record.key()).isEqualTo(key);
        assertThat(record.value()).isEqualTo(value);
        assertThat(pairs(record.headers())).containsExactlyElementsOf(pairs(headers));
    }

    /** The event a record carries. */
    static UsageEvent event(ProducerRecord<byte[], byte[]> record) {
        return CODEC.decode(record.value());
    }

    private static List<Map.Entry<String, String>> pairs(Iterable<Header> headers) {
        List<Map.Entry<String, String>> pairs = new ArrayList<>();
        for (Header header : headers) {
            pairs.add(Map.entry(header.key(), header.value() == null ? "<null>"
                    : new String(header.value(), java.nio.charset.StandardCharsets.UTF_8)));
        }
        return pairs;
    }
}
