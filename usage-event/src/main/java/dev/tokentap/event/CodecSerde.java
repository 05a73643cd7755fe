package dev.tokentap.event;

import java.util.function.Function;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** A Kafka serde over a record codec: null stays null, and a record the codec cannot read fails as Kafka expects. */
final class CodecSerde {

    private CodecSerde() {
    }

    /** The deserializer throws {@link SerializationException} where {@code decode} throws a decode exception. */
    static <T> Serde<T> of(Function<T, byte[]> encode, Function<byte[], T> decode) {
        Serializer<T> serializer = (topic, data) -> data == null ? null : encode.apply(data);
        Deserializer<T> deserializer = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            try {
                return decode.apply(bytes);
            } catch (UsageEventDecodeException e) {
                throw new SerializationException(e.getMessage(), e);
            }
        };
        return Serdes.serdeFrom(serializer, deserializer);
    }
}
