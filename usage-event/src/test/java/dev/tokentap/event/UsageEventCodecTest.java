package dev.tokentap.event;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import org.junit.jupiter.params.provider.MethodSource;

class UsageEventCodecTest {

    private final UsageEventCodec codec = new UsageEventCodec();
    private final ObjectMapper json = new ObjectMapper();

    @Test
    void shouldReadEveryFieldOfTheGoldenStreamingChatEvent() {
        UsageEvent e = codec.decode(GoldenEvents.valid("chat-stream-ok"));

        assertThat(e.eventId()).isEqualTo("019a9c3e-7b1a-7c41-9a52-3f1e8d2b6c07");
        assertThat(e.schemaVersion()).isEqualTo(1);
        assertThat(e.requestId()).isEqualTo("req-8f14e45f");
        assertThat(e.responseId()).isEqualTo("chatcmpl-5d41402abc4b2a76b9719d911017c592");
        assertThat(e.traceId()).isEqualTo("d5fe1dc9035165ce36952daf29686b6c");
        assertThat(e.spanId()).isEqualTo("14330be33197dd1a");
        assertThat(e.startedAt()).isEqualTo(1763830000123L);
        assertThat(e.firstByteAt()).isEqualTo(1763830000171L);
        assertThat(e.endedAt()).isEqualTo(1763830001460L);
        assertThat(e.method()).isEqualTo("POST");
        assertThat(e.route()).isEqualTo("/v1/chat/completions");
        assertThat(e.status()).isEqualTo(200);
        assertThat(e.outcome()).isEqualTo(Outcome.OK);
        assertThat(e.model()).isEqualTo("meta-llama/Llama-3.1-8B-Instruct");
        assertThat(e.responseModel()).isEqualTo("meta-llama/Llama-3.1-8B-Instruct");
        assertThat(e.stream()).isTrue();
        assertThat(e.promptTokens()).isEqualTo(42L);
        assertThat(e.completionTokens()).isEqualTo(128L);
        assertThat(e.totalTokens()).isEqualTo(170L);
        assertThat(e.cachedTokens()).isEqualTo(32L);
        assertThat(e.reasoningTokens()).isNull();
        assertThat(e.usageSource()).isEqualTo(UsageSource.REPORTED);
        assertThat(e.clientAddress()).isEqualTo("10.42.3.17");
        assertThat(e.apiKeyId()).hasSize(64);
        assertThat(e.user()).isEqualTo("alice");
        assertThat(e.tenant()).isEqualTo("team-search");
        assertThat(e.proxyHost()).isEqualTo("vllm-66855dfbf7-m5njg");
        assertThat(e.upstream()).isEqualTo("127.0.0.1:8000");
    }

    @Test
    void shouldTolerateFieldsItDoesNotKnow() {
        UsageEvent e = codec.decode(GoldenEvents.valid("from-a-newer-producer"));

        assertThat(e.eventId()).isEqualTo("019a9c40-1111-7222-8333-444455556666");
        assertThat(e.totalTokens()).isEqualTo(12L);
        assertThat(e.audioSeconds()).isEqualTo(3.5);
    }

    @Test
    void shouldReadTheOptionalFieldsAddedWithoutABumpOfTheSchemaVersion() {
        UsageEvent embeddings = codec.decode(GoldenEvents.valid("embeddings-ok"));
        UsageEvent audio = codec.decode(GoldenEvents.valid("transcription-duration"));

        assertThat(embeddings.completionTokensReported()).isFalse();
        assertThat(embeddings.completionTokensOrZero()).isZero();
        assertThat(audio.audioSeconds()).isEqualTo(12.5);
        assertThat(audio.totalTokensOrSum()).isZero();
    }

    @ParameterizedTest
    @FieldSource("dev.tokentap.event.GoldenEvents#VALID")
    void shouldWriteBackExactlyTheFieldsItRead(String name) throws Exception {
        byte[] golden = GoldenEvents.valid(name);
        UsageEvent decoded = codec.decode(golden);

        JsonNode written = json.readTree(codec.encode(decoded));
        JsonNode expected = json.readTree(golden);
        // a newer producer's extra fields are not carried by this version's record
        ((com.fasterxml.jackson.databind.node.ObjectNode) expected).remove(List.of("routing"));

        assertThat(written).isEqualTo(expected);
        assertThat(codec.decode(codec.encode(decoded))).isEqualTo(decoded);
    }

    @Test
    void shouldLeaveNullFieldsOutOfTheJson() {
        UsageEvent e = UsageEvent.builder().eventId("id-1").route("/v1/completions").outcome(Outcome.OK).build();

        String written = new String(codec.encode(e), StandardCharsets.UTF_8);

        assertThat(written).doesNotContain("null").doesNotContain("prompt_tokens").contains("\"usage_source\":\"none\"");
    }

    static List<List<String>> invalidRecords() {
        return GoldenEvents.INVALID;
    }

    @ParameterizedTest
    @MethodSource("invalidRecords")
    void shouldRejectWhatIsNotAnEventWithACountableReason(List<String> fileAndReason) {
        byte[] bytes = GoldenEvents.invalid(fileAndReason.get(0));

        assertThatThrownBy(() -> codec.decode(bytes))
                .isInstanceOfSatisfying(UsageEventDecodeException.class,
                        ex -> assertThat(ex.reason()).isEqualTo(fileAndReason.get(1)));
    }

    @Test
    void shouldRejectEmptyAndNullRecords() {
        assertThatThrownBy(() -> codec.decode(new byte[0]))
                .isInstanceOfSatisfying(UsageEventDecodeException.class,
                        ex -> assertThat(ex.reason()).isEqualTo(UsageEventDecodeException.EMPTY));
        assertThatThrownBy(() -> codec.decode("null".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(UsageEventDecodeException.class);
    }

    @Test
    void shouldCutUserToTheContractLength() {
        UsageEvent e = UsageEvent.builder().user("u".repeat(500)).build();

        assertThat(e.user()).hasSize(UsageEvent.MAX_USER_LENGTH);
    }

    @Test
    void shouldDeriveTotalFromPartsOnlyWhenVllmGaveNoTotal() {
        UsageEvent reported = UsageEvent.builder().promptTokens(5L).completionTokens(7L).totalTokens(13L).build();
        UsageEvent noTotal = UsageEvent.builder().promptTokens(5L).completionTokens(null).build();

        assertThat(reported.totalTokensOrSum()).isEqualTo(13);
        assertThat(noTotal.totalTokensOrSum()).isEqualTo(5);
        assertThat(noTotal.cachedTokensOrZero()).isZero();
    }
}
