package dev.tokentap.proxy;

import static org.awaitility.Awaitility.await;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.testkit.kafka.TestKafka;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Reads the usage topic from the start, for tests that look for the events of their requests. */
final class UsageLog implements AutoCloseable {
    private final KafkaConsumer<String, UsageEvent> consumer;
    private final List<ConsumerRecord<String, UsageEvent>> records = new ArrayList<>();

    UsageLog(TestKafka kafka, String topic) {
        Map<String, Object> properties = new HashMap<>(kafka.clientProperties());
        properties.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        consumer = new KafkaConsumer<>(properties, new StringDeserializer(),
                new UsageEventSerde.UsageEventDeserializer());
        consumer.assign(List.of(new TopicPartition(topic, 0)));
        consumer.seekToBeginning(consumer.assignment());
    }

    /** Waits for the record of the request with this {@code request_id}, and checks there is only one. */
    synchronized ConsumerRecord<String, UsageEvent> awaitOne(String requestId) {
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            poll();
            return !ofRequest(requestId).isEmpty();
        });
        List<ConsumerRecord<String, UsageEvent>> found = ofRequest(requestId);
        if (found.size() != 1) {
            throw new AssertionError("expected one event for request " + requestId + ", found " + found.size());
        }
        return found.get(0);
    }

    /** All records read so far, after one more poll. */
    synchronized List<ConsumerRecord<String, UsageEvent>> records() {
        poll();
        return List.copyOf(records);
    }

    private List<ConsumerRecord<String, UsageEvent>> ofRequest(String requestId) {
        return records.stream().filter(r -> requestId.equals(r.value().requestId())).toList();
    }

    private void poll() {
        consumer.poll(Duration.ofMillis(200)).forEach(records::add);
    }

    @Override
    public synchronized void close() {
        consumer.close();
    }
}
