package dev.tokentap.event;

import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka serde for {@link UsageEvent}. The serializer also writes the {@link CloudEventHeaders} when the record has
 * headers. The deserializer throws {@link UsageEventDecodeException} for a record it cannot read; consumers that
 * must not stop on one (the aggregator) read bytes and call {@link UsageEventCodec#decode} themselves.
 */
public final class UsageEventSerde implements Serde<UsageEvent> {

    private final UsageEventCodec codec;

    public UsageEventSerde() {
        this(new UsageEventCodec());
    }

    public UsageEventSerde(UsageEventCodec codec) {
        this.codec = codec;
    }

    @Override
    public Serializer<UsageEvent> serializer() {
        return new UsageEventSerializer(codec);
    }

    @Override
    public Deserializer<UsageEvent> deserializer() {
        return new UsageEventDeserializer(codec);
    }

    /** Writes the event's JSON, and its CloudEvents headers where the record has headers. */
    public static final class UsageEventSerializer implements Serializer<UsageEvent> {
        private final UsageEventCodec codec;

        public UsageEventSerializer() {
            this(new UsageEventCodec());
        }

        UsageEventSerializer(UsageEventCodec codec) {
            this.codec = codec;
        }

        @Override
        public byte[] serialize(String topic, UsageEvent data) {
            return data == null ? null : codec.encode(data);
        }

        @Override
        public byte[] serialize(String topic, Headers headers, UsageEvent data) {
            if (data != null && headers != null) {
                CloudEventHeaders.write(data, headers);
            }
            return serialize(topic, data);
        }
    }

    /** Reads the event's JSON; throws {@link UsageEventDecodeException} for anything else. */
    public static final class UsageEventDeserializer implements Deserializer<UsageEvent> {
        private final UsageEventCodec codec;

        public UsageEventDeserializer() {
            this(new UsageEventCodec());
        }

        UsageEventDeserializer(UsageEventCodec codec) {
            this.codec = codec;
        }

        @Override
        public UsageEvent deserialize(String topic, byte[] data) {
            return data == null ? null : codec.decode(data);
        }
    }
}
