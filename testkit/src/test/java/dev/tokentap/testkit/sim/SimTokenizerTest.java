package dev.tokentap.testkit.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The token rule and request validation, without a server. */
class SimTokenizerTest {

    private static final String CHAT = "/v1/chat/completions";
    private static final String COMPLETIONS = "/v1/completions";

    @Test
    void shouldCountWhitespaceSeparatedWords() {
        assertThat(SimTokenizer.countWords(null)).isZero();
        assertThat(SimTokenizer.countWords("  \n\t ")).isZero();
        assertThat(SimTokenizer.countWords("one")).isEqualTo(1);
        assertThat(SimTokenizer.countWords("  one two\tthree\nfour  ")).isEqualTo(4);
    }

    @Test
    void shouldChargeFourTokensPerChatMessagePlusItsWords() {
        assertThat(SimTokenizer.chatPromptTokens(Arrays.asList("be brief", "hello there you", null))).isEqualTo(4 + 2 + 4 + 3 + 4);
    }

    @Test
    void shouldGenerateNumberedTokens() {
        assertThat(SimTokenizer.token(3)).isEqualTo(" tok3");
        assertThat(SimTokenizer.text(3)).isEqualTo(" tok0 tok1 tok2");
        assertThat(SimTokenizer.text(0)).isEmpty();
    }

    @Test
    void shouldUseMaxTokensForCompletionsAndDefaultToSixteen() {
        assertThat(SimTokenizer.usageFor(COMPLETIONS, "{\"prompt\":\"one two three four five\",\"max_tokens\":7}"))
                .isEqualTo(new SimUsage(5, 7, null));
        assertThat(SimTokenizer.usageFor(COMPLETIONS, "{\"prompt\":\"a b\"}")).isEqualTo(new SimUsage(2, 16, null));
        assertThat(SimTokenizer.usageFor(COMPLETIONS, "{\"prompt\":\"a b\",\"max_tokens\":null}").completionTokens()).isEqualTo(16);
    }

    @Test
    void shouldPreferMaxCompletionTokensForChat() {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":9,\"max_completion_tokens\":4}";

        SimUsage usage = SimTokenizer.usageFor(CHAT, body);

        assertThat(usage).isEqualTo(new SimUsage(5, 4, null));
        assertThat(usage.totalTokens()).isEqualTo(9);
    }

    @Test
    void shouldReadTextOfChatContentParts() {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look at\"},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\",\"text\":\"this\"}]}],\"max_tokens\":1}";

        assertThat(SimTokenizer.usageFor(CHAT, body).promptTokens()).isEqualTo(4 + 3);
    }

    @Test
    void shouldSumCompletionTokensOverChoices() {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":3,\"n\":2}";

        assertThat(SimTokenizer.usageFor(CHAT, body)).isEqualTo(new SimUsage(5, 6, null));
    }

    @Test
    void shouldTreatAListOfPromptsAsABatch() {
        assertThat(SimTokenizer.usageFor(COMPLETIONS, "{\"prompt\":[\"a b\",\"c d e\"],\"max_tokens\":2,\"n\":2}"))
                .isEqualTo(new SimUsage(5, 8, null));
        assertThat(SimTokenizer.usageFor(COMPLETIONS, "{\"prompt\":[1,2,3,4],\"max_tokens\":2}")).isEqualTo(new SimUsage(4, 2, null));
        assertThat(SimTokenizer.usageFor(COMPLETIONS, "{\"prompt\":[[1,2],[3]],\"max_tokens\":2}")).isEqualTo(new SimUsage(3, 4, null));
    }

    @Test
    void shouldCapCachedTokensAtThePrompt() {
        SimRequest request = SimRequest.parse(COMPLETIONS, "{\"prompt\":\"a b c\"}".getBytes(StandardCharsets.UTF_8));

        assertThat(request.usage(2).cachedTokens()).isEqualTo(2);
        assertThat(request.usage(10).cachedTokens()).isEqualTo(3);
        assertThat(request.usage(0).cachedTokens()).isNull();
    }

    @Test
    void shouldReadStreamOptionsAsCurrentVllmDoes() {
        assertThat(parse("{\"prompt\":\"a\",\"stream\":true}")).extracting(SimRequest::includeUsage, SimRequest::continuousUsage)
                .containsExactly(false, false);
        assertThat(parse("{\"prompt\":\"a\",\"stream\":true,\"stream_options\":{}}"))
                .extracting(SimRequest::includeUsage, SimRequest::continuousUsage).containsExactly(false, false);
        assertThat(parse("{\"prompt\":\"a\",\"stream\":true,\"stream_options\":{\"include_usage\":false,\"continuous_usage_stats\":true}}"))
                .extracting(SimRequest::includeUsage, SimRequest::continuousUsage).containsExactly(false, false);
        assertThat(parse("{\"prompt\":\"a\",\"stream\":true,\"stream_options\":{\"continuous_usage_stats\":true}}"))
                .extracting(SimRequest::includeUsage, SimRequest::continuousUsage).containsExactly(false, false);
        assertThat(parse("{\"prompt\":\"a\",\"stream\":\"yes\",\"stream_options\":{\"include_usage\":1,\"continuous_usage_stats\":\"on\"}}"))
                .extracting(SimRequest::stream, SimRequest::includeUsage, SimRequest::continuousUsage)
                .containsExactly(true, true, true);
    }

    @Test
    void shouldReadStreamOptionsAsLegacyVllmDid() {
        assertThat(legacy("{\"prompt\":\"a\",\"stream\":true}")).extracting(SimRequest::includeUsage, SimRequest::continuousUsage)
                .containsExactly(false, false);
        assertThat(legacy("{\"prompt\":\"a\",\"stream\":true,\"stream_options\":{}}"))
                .extracting(SimRequest::includeUsage, SimRequest::continuousUsage).containsExactly(true, false);
        assertThat(legacy("{\"prompt\":\"a\",\"stream\":true,\"stream_options\":{\"include_usage\":null}}"))
                .extracting(SimRequest::includeUsage, SimRequest::continuousUsage).containsExactly(false, false);
        assertThat(legacy("{\"prompt\":\"a\",\"stream\":true,\"stream_options\":{\"continuous_usage_stats\":true}}"))
                .extracting(SimRequest::includeUsage, SimRequest::continuousUsage).containsExactly(true, true);
    }

    private static SimRequest legacy(String body) {
        return SimRequest.parse(COMPLETIONS, body.getBytes(StandardCharsets.UTF_8), VllmProfile.LEGACY);
    }

    @Test
    void shouldRefuseWhatVllmRefuses() {
        for (String body : List.of(
                "{\"prompt\":\"a\",\"max_tokens\":0}",
                "{\"prompt\":\"a\",\"stream_options\":{\"include_usage\":true}}",
                "{\"prompt\":\"a\",\"n\":0}",
                "{\"prompt\":[]}",
                "{\"prompt\":42}",
                "{\"max_tokens\":3}",
                "{\"prompt\":\"a\",\"stream\":\"maybe\"}",
                "{\"prompt\":\"a\",\"stream\":2}",
                "[1,2]",
                "{\"prompt\":")) {
            assertThatThrownBy(() -> SimTokenizer.usageFor(COMPLETIONS, body))
                    .as(body)
                    .isInstanceOfSatisfying(VllmError.class, error -> {
                        assertThat(error.status()).isEqualTo(400);
                        assertThat(error.type()).isEqualTo("BadRequestError");
                    });
        }
        assertThatThrownBy(() -> SimTokenizer.usageFor(CHAT, "{\"messages\":[]}")).isInstanceOf(VllmError.class);
        assertThatThrownBy(() -> SimTokenizer.usageFor(CHAT, "{\"messages\":[{\"content\":\"no role\"}]}")).isInstanceOf(VllmError.class);
    }

    @Test
    void shouldRefuseRequestsBeyondTheContextLength() {
        SimRequest request = parse("{\"prompt\":\"a b c\",\"max_tokens\":8}");

        request.checkContextLength(11);
        assertThatThrownBy(() -> request.checkContextLength(10))
                .isInstanceOf(VllmError.class)
                .hasMessageContaining("maximum context length is 10 tokens")
                .hasMessageContaining("you requested 11 tokens");
    }

    private static SimRequest parse(String body) {
        return SimRequest.parse(COMPLETIONS, body.getBytes(StandardCharsets.UTF_8));
    }
}
