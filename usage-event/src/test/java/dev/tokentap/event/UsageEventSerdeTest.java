package dev.tokentap.event;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class UsageEventSerdeTest {

    private final UsageEventSerde serde = new UsageEventSerde();
    private final UsageEventCodec codec = new UsageEventCodec();

    @Test
    void shouldWriteCloudEventsBinaryHeadersBesideTheJson() {
        UsageEvent event = codec.decode(GoldenEvents.valid("chat-stream-ok"));
        RecordHeaders headers = new RecordHeaders();

        byte[] value = serde.serializer().serialize(Topics.USAGE, headers, event);

        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.SPEC_VERSION)).isEqualTo("1.0");
        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.ID)).isEqualTo(event.eventId());
        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.SOURCE)).isEqualTo("tokentap/vllm-66855dfbf7-m5njg");
        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.TYPE)).isEqualTo("dev.tokentap.usage.v1");
        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.TIME)).isEqualTo("2025-11-22T16:46:41.460Z");
        assertThat(CloudEventHeaders.read(headers, CloudEventHeaders.CONTENT_TYPE)).isEqualTo("application/json");
        assertThat(serde.deserializer().deserialize(Topics.USAGE, headers, value)).isEqualTo(event);
    }

    @Test
    void shouldReplaceRatherThanRepeatHeadersWhenSerialisedTwice() {
        UsageEvent event = codec.decode(GoldenEvents.valid("completion-ok"));
        RecordHeaders headers = new RecordHeaders();

        serde.serializer().serialize(Topics.USAGE, headers, event);
        serde.serializer().serialize(Topics.USAGE, headers, event);

        assertThat(headers.headers(CloudEventHeaders.ID)).hasSize(1);
    }

    @Test
    void shouldPassTombstonesThroughAndRejectGarbage() {
        assertThat(serde.serializer().serialize(Topics.USAGE, null)).isNull();
        assertThat(serde.deserializer().deserialize(Topics.USAGE, null)).isNull();
        assertThatThrownBy(() -> serde.deserializer().deserialize(Topics.USAGE, GoldenEvents.invalid("garbage.bin")))
                .isInstanceOf(UsageEventDecodeException.class);
    }

    @Test
    void shouldNameEveryBlankTopicAtOnce() {
        assertThatThrownBy(() -> new Topics(" ", "x", null, "y"))
                .hasMessageContaining("usage").hasMessageContaining("hourly");
        assertThat(Topics.withUsage("t").usage()).isEqualTo("t");
    }
}
