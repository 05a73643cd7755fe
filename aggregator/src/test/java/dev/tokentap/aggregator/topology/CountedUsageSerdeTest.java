package dev.tokentap.aggregator.topology;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.event.GoldenEvents;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CountedUsageSerdeTest {

    private final CountedUsageSerde serde = new CountedUsageSerde();
    private final UsageEventCodec codec = new UsageEventCodec();

    @Test
    void shouldCountEveryGoldenEventAfterTheRepartitionAsTheWholeEvent() {
        for (String name : GoldenEvents.VALID) {
            UsageEvent event = codec.decode(GoldenEvents.valid(name));
            UsageTotals before = UsageTotals.EMPTY.add(event).add(event);

            UsageEvent counted = serde.deserializer().deserialize("t", serde.serializer().serialize("t",
                    new Counted(event, null, false))).event();

            assertThat(UsageTotals.EMPTY.add(counted).add(counted)).as(name).isEqualTo(before);
        }
    }

    @Test
    void shouldWriteOnlyWhatTheTotalsRead() {
        UsageEvent event = codec.decode(GoldenEvents.valid("chat-stream-ok"));

        String written = new String(serde.serializer().serialize("t", new Counted(event, null, false)),
                StandardCharsets.UTF_8);

        assertThat(written).doesNotContain("event_id", event.clientAddress(), event.model())
                .startsWith("{\"outcome\":\"" + event.outcome() + "\",\"started_at\":" + event.startedAt());
    }

    @Test
    void shouldReadAWholeEventLeftInTheTopicByAnEarlierVersion() {
        for (String name : GoldenEvents.VALID) {
            UsageEvent event = codec.decode(GoldenEvents.valid(name));

            UsageEvent counted = serde.deserializer().deserialize("t", codec.encode(event)).event();

            assertThat(UsageTotals.EMPTY.add(counted)).as(name).isEqualTo(UsageTotals.EMPTY.add(event));
        }
    }

    @Test
    void shouldTakeAbsentTokensAsNotReported() {
        UsageEvent event = UsageEvent.builder().eventId("e").route("/v1/completions").outcome("client_aborted")
                .promptTokens(3L).build();

        UsageEvent counted = serde.deserializer().deserialize("t", serde.serializer().serialize("t",
                new Counted(event, null, false))).event();

        assertThat(counted.promptTokens()).isEqualTo(3L);
        assertThat(counted.completionTokens()).isNull();
        assertThat(counted.totalTokens()).isNull();
        assertThat(counted.cachedTokens()).isNull();
        assertThat(counted.startedAt()).isNull();
        assertThat(counted.stream()).isFalse();
        assertThat(counted.outcome()).isEqualTo("client_aborted");
    }

    @Test
    void shouldCarryReasoningTokensAudioSecondsAndTheExactCost() {
        UsageEvent event = UsageEvent.builder().eventId("e").route("/v1/audio/transcriptions").outcome("ok")
                .reasoningTokens(7L).audioSeconds(12.345).build();
        dev.tokentap.event.Cost cost = dev.tokentap.event.Cost.of("EUR", new java.math.BigDecimal("0.000000123"));

        Counted counted = serde.deserializer().deserialize("t", serde.serializer().serialize("t",
                new Counted(event, cost, false)));
        Counted unpriced = serde.deserializer().deserialize("t", serde.serializer().serialize("t",
                new Counted(event, null, true)));

        assertThat(counted.event().reasoningTokens()).isEqualTo(7L);
        assertThat(counted.event().audioSeconds()).isEqualTo(12.345);
        assertThat(counted.cost()).isEqualTo(cost);
        assertThat(counted.unpriced()).isFalse();
        assertThat(unpriced.cost()).isNull();
        assertThat(unpriced.unpriced()).isTrue();
    }
}
