package dev.tokentap.aggregator.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.event.Cost;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.Test;

class TotalsSerdeTest {

    private final Serde<UsageTotals> serde = TotalsSerde.totals();

    @Test
    void shouldRoundTripTotalsWithEveryFieldSet() {
        // given
        UsageTotals totals = counted();

        // when
        byte[] bytes = serde.serializer().serialize("t", totals);

        // then
        assertThat(bytes[0]).isEqualTo(TotalsSerde.VERSION);
        assertThat(serde.deserializer().deserialize("t", bytes)).isEqualTo(totals);
        assertThat(bytes.length).isLessThan(JsonSerde.totals().serializer().serialize("t", totals).length / 2);
    }

    @Test
    void shouldRoundTripEmptyAndSaturatedTotals() {
        UsageTotals saturated = new UsageTotals(Long.MAX_VALUE, 0, Long.MAX_VALUE, 1, new TreeMap<>(
                java.util.Map.of(Outcome.OK, Long.MAX_VALUE)));

        assertThat(serde.deserializer().deserialize("t", serde.serializer().serialize("t", UsageTotals.EMPTY)))
                .isEqualTo(UsageTotals.EMPTY);
        assertThat(serde.deserializer().deserialize("t", serde.serializer().serialize("t", saturated)))
                .isEqualTo(saturated);
    }

    @Test
    void shouldReadTheJsonThatEarlierVersionsStored() {
        // given: totals as an earlier version wrote them into the store and its changelog
        UsageTotals totals = counted();
        byte[] stored = JsonSerde.totals().serializer().serialize("t", totals);
        byte[] beforeHistograms = ("{\"prompt_tokens\":7,\"completion_tokens\":0,\"total_tokens\":7,"
                + "\"cached_tokens\":0,\"requests\":{\"ok\":1}}").getBytes(StandardCharsets.UTF_8);

        // then
        assertThat(stored[0]).isEqualTo((byte) '{');
        assertThat(serde.deserializer().deserialize("t", stored)).isEqualTo(totals);
        assertThat(serde.deserializer().deserialize("t", beforeHistograms))
                .isEqualTo(JsonSerde.totals().deserializer().deserialize("t", beforeHistograms));
    }

    @Test
    void shouldRefuseBytesNoVersionWrote() {
        byte[] truncated = serde.serializer().serialize("t", counted());

        assertThatThrownBy(() -> serde.deserializer().deserialize("t", new byte[] {7, 1, 2}))
                .isInstanceOf(SerializationException.class);
        assertThatThrownBy(() -> serde.deserializer().deserialize("t",
                Arrays.copyOf(truncated, truncated.length - 3))).isInstanceOf(SerializationException.class);
        assertThatThrownBy(() -> serde.deserializer().deserialize("t", new byte[0]))
                .isInstanceOf(SerializationException.class);
    }

    private static UsageTotals counted() {
        UsageTotals totals = UsageTotals.EMPTY;
        for (String outcome : List.of(Outcome.OK, Outcome.OK, Outcome.UPSTREAM_ERROR, "something-new")) {
            UsageEvent event = UsageEvent.builder().eventId("e").route("/v1/chat/completions").outcome(outcome)
                    .stream(true).startedAt(1_000L).firstByteAt(1_180L).endedAt(4_321L).promptTokens(300_000L)
                    .completionTokens(12L).cachedTokens(16L).reasoningTokens(5L).audioSeconds(1.25).build();
            totals = totals.add(new Counted(event, Cost.of("EUR", new BigDecimal("0.000123")), false))
                    .add(new Counted(event, Cost.of("USD", new BigDecimal("2")), false))
                    .add(new Counted(event, null, true));
        }
        return totals;
    }
}
