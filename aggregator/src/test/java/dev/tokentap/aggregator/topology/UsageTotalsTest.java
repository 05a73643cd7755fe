package dev.tokentap.aggregator.topology;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class UsageTotalsTest {

    @Test
    void shouldCountTheRequestButAddNoUsageFromAnEventWhoseCountsCannotBeTrue() {
        UsageTotals before = UsageTotals.EMPTY.add(event(390, 10));

        UsageTotals after = before.add(event(-1000, 10)).add(event(Long.MAX_VALUE, 0));

        assertThat(after.promptTokens()).isEqualTo(390);
        assertThat(after.completionTokens()).isEqualTo(10);
        assertThat(after.totalTokens()).isEqualTo(400);
        assertThat(after.requests(Outcome.OK)).isEqualTo(3);
    }

    @Test
    void shouldHoldASumAtTheLargestLongRatherThanWrap() {
        UsageTotals nearlyFull = new UsageTotals(Long.MAX_VALUE - 5, 0, Long.MAX_VALUE - 5, 0,
                new java.util.TreeMap<>(Map.of(Outcome.OK, Long.MAX_VALUE)));

        UsageTotals after = nearlyFull.add(event(1000, 0));

        assertThat(after.promptTokens()).isEqualTo(Long.MAX_VALUE);
        assertThat(after.totalTokens()).isEqualTo(Long.MAX_VALUE);
        assertThat(after.requests(Outcome.OK)).isEqualTo(Long.MAX_VALUE);
        assertThat(after.requestCount()).isEqualTo(Long.MAX_VALUE);
    }

    @Test
    void shouldReadTotalsAnOlderVersionSavedNegativeAsZeroAndCountOnFromThere() {
        // as an older version left them: negative tokens added, a sum wrapped, a null count, a negative bucket
        byte[] saved = ("{\"prompt_tokens\":-610,\"completion_tokens\":-2,\"total_tokens\":-9223372036854775807,"
                + "\"cached_tokens\":4,\"requests\":{\"ok\":-3,\"client_aborted\":null,\"upstream_error\":2},"
                + "\"duration\":{\"counts\":[-1,2,null],\"sum_ms\":-40},\"ttft\":null}")
                .getBytes(StandardCharsets.UTF_8);

        UsageTotals read = JsonSerde.totals().deserializer().deserialize("t", saved);

        assertThat(read.promptTokens()).isZero();
        assertThat(read.completionTokens()).isZero();
        assertThat(read.totalTokens()).isZero();
        assertThat(read.cachedTokens()).isEqualTo(4);
        assertThat(read.requests()).containsExactly(Map.entry(Outcome.OK, 0L), Map.entry(Outcome.UPSTREAM_ERROR, 2L));
        assertThat(read.duration().counts()).containsExactly(0L, 2L, 0L);
        assertThat(read.duration().sumMillis()).isZero();
        assertThat(read.add(event(10, 5)).promptTokens()).isEqualTo(10);
    }

    private static UsageEvent event(long prompt, long completion) {
        return UsageEvent.builder().eventId("e").route("/v1/completions").outcome(Outcome.OK)
                .promptTokens(prompt).completionTokens(completion).build();
    }
}
