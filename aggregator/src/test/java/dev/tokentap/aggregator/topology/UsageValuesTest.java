package dev.tokentap.aggregator.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.event.GoldenEvents;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventDecodeException;
import dev.tokentap.event.UsageSource;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class UsageValuesTest {

    private final UsageEventCodec codec = new UsageEventCodec();

    @Test
    void shouldFindNothingWrongWithAnyGoldenEventButTheOneItsProxyFlagged() {
        for (String name : GoldenEvents.VALID) {
            String expected = name.startsWith("usage-invalid") ? UsageValues.FLAGGED : null;
            assertThat(UsageValues.problem(GoldenEvents.valid(name))).as(name).isEqualTo(expected);
        }
    }

    @Test
    void shouldNameWhatIsWrongWithAUsageValue() {
        assertThat(problem("\"prompt_tokens\":-1000")).isEqualTo(UsageValues.NEGATIVE);
        assertThat(problem("\"completion_tokens\":1.5")).isEqualTo(UsageValues.FRACTIONAL);
        assertThat(problem("\"total_tokens\":\"12\"")).isEqualTo(UsageValues.NOT_A_NUMBER);
        assertThat(problem("\"cached_tokens\":true")).isEqualTo(UsageValues.NOT_A_NUMBER);
        assertThat(problem("\"reasoning_tokens\":{\"n\":1}")).isEqualTo(UsageValues.NOT_A_NUMBER);
        assertThat(problem("\"prompt_tokens\":[1]")).isEqualTo(UsageValues.NOT_A_NUMBER);
        assertThat(problem("\"prompt_tokens\":1e30")).isEqualTo(UsageValues.TOO_LARGE);
        assertThat(problem("\"prompt_tokens\":9223372036854775807")).isEqualTo(UsageValues.TOO_LARGE);
        assertThat(problem("\"prompt_tokens\":99999999999999999999999")).isEqualTo(UsageValues.TOO_LARGE);
        assertThat(problem("\"prompt_tokens\":-99999999999999999999999")).isEqualTo(UsageValues.NEGATIVE);
        assertThat(problem("\"prompt_tokens\":" + (UsageValues.MAX + 1))).isEqualTo(UsageValues.TOO_LARGE);
        assertThat(problem("\"audio_seconds\":-2.5")).isEqualTo(UsageValues.NEGATIVE);
        assertThat(problem("\"audio_seconds\":\"long\"")).isEqualTo(UsageValues.NOT_A_NUMBER);
        assertThat(problem("\"usage_source\":\"invalid\",\"prompt_tokens\":10")).isEqualTo(UsageValues.FLAGGED);
    }

    @Test
    void shouldTakeCountsAtTheirWordUpToTheBound() {
        assertThat(problem("\"prompt_tokens\":0")).isNull();
        assertThat(problem("\"prompt_tokens\":" + UsageValues.MAX)).isNull();
        assertThat(problem("\"prompt_tokens\":12.0")).isNull();
        assertThat(problem("\"prompt_tokens\":null")).isNull();
        assertThat(problem("\"audio_seconds\":12.75")).isNull();
        // a usage_source this version does not know is a newer proxy's, not a verdict
        assertThat(problem("\"usage_source\":\"estimated\",\"prompt_tokens\":10")).isNull();
        // nested objects are not usage: an unknown field holding negative numbers is none of its business
        assertThat(problem("\"extra\":{\"prompt_tokens\":-1}")).isNull();
    }

    @Test
    void shouldLeaveARecordThatIsNoJsonObjectToTheDecoder() {
        assertThat(UsageValues.problem(bytes("{not json"))).isNull();
        assertThat(UsageValues.problem(bytes("[1,2]"))).isNull();
        assertThat(UsageValues.problem(new byte[0])).isNull();
    }

    @Test
    void shouldDecodeAnInvalidEventWithoutItsUsageAndMarkedInvalid() {
        byte[] json = bytes("{\"event_id\":\"e-1\",\"schema_version\":1,\"route\":\"/v1/chat/completions\","
                + "\"outcome\":\"ok\",\"status\":200,\"usage_source\":\"reported\",\"prompt_tokens\":\"many\","
                + "\"completion_tokens\":7,\"total_tokens\":9,\"cached_tokens\":1,\"reasoning_tokens\":2,"
                + "\"audio_seconds\":3.5,\"completion_tokens_reported\":true,\"model\":\"llama\"}");

        UsageEvent event = codec.decode(UsageValues.withoutUsage(json));

        assertThat(event.usageSource()).isEqualTo(UsageValues.INVALID_SOURCE);
        assertThat(event.promptTokens()).isNull();
        assertThat(event.completionTokens()).isNull();
        assertThat(event.totalTokens()).isNull();
        assertThat(event.cachedTokens()).isNull();
        assertThat(event.reasoningTokens()).isNull();
        assertThat(event.audioSeconds()).isNull();
        assertThat(event.completionTokensReported()).isNull();
        assertThat(event.eventId()).isEqualTo("e-1");
        assertThat(event.model()).isEqualTo("llama");
        assertThatThrownBy(() -> UsageValues.withoutUsage(bytes("{broken")))
                .isInstanceOf(UsageEventDecodeException.class);
    }

    @Test
    void shouldCountOnlyEventsWhoseCountsAreWithinTheBound() {
        UsageEvent.Builder event = UsageEvent.builder().eventId("e").route("/r").outcome("ok")
                .usageSource(UsageSource.REPORTED).promptTokens(5L).completionTokens(3L);

        assertThat(UsageValues.countable(event.build())).isTrue();
        assertThat(UsageValues.countable(event.promptTokens(-1L).build())).isFalse();
        assertThat(UsageValues.countable(event.promptTokens(Long.MAX_VALUE).build())).isFalse();
        assertThat(UsageValues.countable(event.promptTokens(5L).usageSource("invalid").build())).isFalse();
    }

    private static String problem(String fields) {
        return UsageValues.problem(bytes("{\"event_id\":\"e-1\",\"route\":\"/v1/completions\"," + fields
                + ",\"outcome\":\"ok\"}"));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
