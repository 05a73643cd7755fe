package dev.tokentap.bench.aggregator;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The aggregator scenario, quick settings, end to end: a real broker, the real aggregator, real scrapes. */
class AggregatorBenchIT {

    @Test
    void shouldCountEveryEventExactlyAndReportThroughputAndOrderedLagPercentiles(@TempDir Path workDir)
            throws Exception {
        // given
        AggregatorBench.Settings settings = AggregatorBench.Settings.quick(workDir);
        ByteArrayOutputStream printed = new ByteArrayOutputStream();

        // when
        AggregatorBench.Result result = AggregatorBench.run(settings,
                new PrintStream(printed, true, StandardCharsets.UTF_8));
        String table = printed.toString(StandardCharsets.UTF_8);
        System.out.print(table);

        // then: every event counted once, in every label set and every sum
        long sent = settings.prefillEvents() + settings.steadyEvents();
        assertThat(result.expectedEvents()).isEqualTo(sent);
        assertThat(result.countedEvents()).isEqualTo(sent);
        assertThat(result.mismatchedSeries()).isZero();
        assertThat(result.allCounted()).isTrue();
        assertThat(result.series()).isGreaterThan(20);
        assertThat(result.sendFailures()).isZero();
        assertThat(result.decodeFailures()).isZero();

        // and the measurements are real
        assertThat(result.drainEvents()).isPositive().isLessThanOrEqualTo(settings.prefillEvents());
        assertThat(result.eventsPerSecond()).isPositive();
        assertThat(result.startupMillis()).isPositive().isGreaterThanOrEqualTo(result.runningMillis());
        assertThat(result.lagSamples()).isEqualTo(settings.steadyEvents());
        assertThat(result.lagPercentilesMicros()).containsOnlyKeys("50.0", "90.0", "99.0", "99.9", "100.0");
        List<Long> lags = new ArrayList<>(result.lagPercentilesMicros().values());
        assertThat(lags.get(0)).isPositive();
        assertThat(lags).isSorted();
        assertThat(table).contains("events/s", "p99", "exactly");

        // and it serialises, and leaves nothing behind
        JsonNode json = new ObjectMapper().valueToTree(result);
        assertThat(json.at("/lagPercentilesMicros/99.9").asLong()).isEqualTo(result.lagPercentilesMicros().get("99.9"));
        try (Stream<Path> left = Files.list(workDir)) {
            assertThat(left).isEmpty();
        }
    }
}
