package dev.tokentap.aggregator.usage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.aggregator.topology.HourlyKey;
import dev.tokentap.aggregator.topology.UsageSums;
import dev.tokentap.event.Cost;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class UsageQueryTest {

    static final long DAY0 = Instant.parse("2026-05-01T00:00:00Z").toEpochMilli();
    static final long HOUR = 3_600_000;
    static final Duration RETENTION = Duration.ofDays(90);

    @Test
    void shouldReadARangeInDaysGroupedByClientAndModel() {
        UsageQuery q = UsageQuery.parse(Map.of("from", "2026-05-01", "to", "2026-05-03T00:00:00Z", "step", "1d",
                "group_by", "client_name, model"), RETENTION, DAY0);

        assertThat(q.from()).isEqualTo(DAY0);
        assertThat(q.to()).isEqualTo(DAY0 + 48 * HOUR);
        assertThat(q.groupBy()).containsExactly("client_name", "model");
        assertThat(q.bucketOf(DAY0 + 30 * HOUR)).isEqualTo(DAY0 + 24 * HOUR);
        assertThat(UsageQuery.parse(Map.of("from", "2026-05-01T00:00:00+02:00", "to", "2026-05-02"), RETENTION, DAY0)
                .groupBy()).isEqualTo(UsageQuery.DIMENSIONS);
    }

    @Test
    void shouldNameEveryBadParameter() {
        assertThatThrownBy(() -> UsageQuery.parse(Map.of("from", "2026-05-01T00:30:00Z", "to", "soon", "step", "1w",
                "group_by", "tenant"), RETENTION, DAY0))
                .isInstanceOfSatisfying(UsageQuery.BadQuery.class, e -> assertThat(e.param()).isEqualTo("to"))
                .hasMessageContaining("to is not a time").hasMessageContaining("step must be 1h or 1d")
                .hasMessageContaining("not 'tenant'");
        assertThatThrownBy(() -> UsageQuery.parse(Map.of("from", "2026-05-01T00:30:00Z", "to", "2026-05-02"),
                RETENTION, DAY0)).hasMessageContaining("whole hours");
        assertThatThrownBy(() -> UsageQuery.parse(Map.of("from", "2026-05-02", "to", "2026-05-01"), RETENTION, DAY0))
                .hasMessageContaining("to must be after from");
        assertThatThrownBy(() -> UsageQuery.parse(Map.of("from", "2025-01-01", "to", "2025-01-02"), RETENTION, DAY0))
                .hasMessageContaining("older than the aggregator keeps");
    }

    @Test
    void shouldSumRowsOfManyHoursAndReplicasExactlyAndWriteThemBack() throws Exception {
        UsageQuery q = UsageQuery.parse(Map.of("from", "2026-05-01", "to", "2026-05-02", "step", "1d",
                "group_by", "client_name"), RETENTION, DAY0);
        UsageRows mine = new UsageRows(q);
        UsageRows theirs = new UsageRows(q);
        mine.add(new HourlyKey("ns", "a", "llama", "/v1/completions"), DAY0 + HOUR, sums(10, "0.1", "0.5"));
        theirs.add(new HourlyKey("ns", "a", "qwen", "/v1/completions"), DAY0 + 5 * HOUR, sums(5, "0.2", "1.25"));
        theirs.add(new HourlyKey("ns", "b", "qwen", "/v1/completions"), DAY0 + 5 * HOUR, sums(1, "0", "0"));
        theirs.add(new HourlyKey("ns", "b", "qwen", "/v1/completions"), DAY0 + 24 * HOUR, sums(99, "0", "0"));

        mine.addAll(UsageRows.fromJson(q, theirs.toJson()));

        assertThat(mine.rows()).hasSize(2);
        UsageSums a = mine.rows().get(new UsageRows.Row(DAY0, List.of("a")));
        assertThat(a.promptTokens()).isEqualTo(15);
        assertThat(a.cost().amount("USD")).isEqualTo(new BigDecimal("0.3"));
        assertThat(a.audioSeconds()).isEqualByComparingTo("1.75");
        assertThat(a.requestCount()).isEqualTo(2);
        assertThat(new String(mine.toJson())).contains("\"start\":\"2026-05-01T00:00:00Z\","
                + "\"end\":\"2026-05-02T00:00:00Z\",\"client_name\":\"a\"").contains("\"cost\":{\"USD\":\"0.3\"}");
    }

    private static UsageSums sums(long prompt, String cost, String audio) {
        return new UsageSums(new TreeMap<>(Map.of("ok", 1L)), prompt, 0, prompt, 0, 0, new BigDecimal(audio),
                Cost.of("USD", new BigDecimal(cost)), 0, 1L, 2L);
    }
}
