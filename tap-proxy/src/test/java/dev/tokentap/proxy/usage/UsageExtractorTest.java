package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.bytes;
import static dev.tokentap.proxy.usage.Pieces.resource;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.event.UsageEvent;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class UsageExtractorTest {

    @Test
    void shouldReadUsageIdAndModelOfAChatCompletion() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.Kind kind = UsageExtractor.read(resource("chat-completion.json"), facts);

        assertThat(kind).isEqualTo(UsageExtractor.Kind.RESPONSE);
        assertThat(facts.responseId()).isEqualTo("chatcmpl-4c1b2e7f0a9d4d2c8e6f1a2b3c4d5e6f");
        assertThat(facts.responseModel()).isEqualTo("Qwen/Qwen2.5-1.5B-Instruct");
        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(21L, 7L, 28L, 16L, null));
        assertThat(facts.errorSeen()).isFalse();
    }

    @Test
    void shouldReadNullDetailsAndReasoningTokens() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.read(resource("completion.json"), facts);

        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(5L, 5L, 10L, null, 2L));
    }

    @Test
    void shouldRecogniseTheUsageOnlyChunk() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.Kind kind = UsageExtractor.read(bytes(
                "{\"id\":\"cmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,"
                        + "\"total_tokens\":3}}"), facts);

        assertThat(kind).isEqualTo(UsageExtractor.Kind.USAGE_ONLY);
        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(1L, 2L, 3L, null, null));
    }

    @Test
    void shouldNotTakeAChunkWithChoicesOrNullUsageForTheUsageChunk() {
        ResponseFacts facts = new ResponseFacts();

        assertThat(UsageExtractor.read(bytes("{\"choices\":[],\"usage\":null}"), facts))
                .isEqualTo(UsageExtractor.Kind.OTHER);
        assertThat(UsageExtractor.read(bytes("{\"choices\":[{\"index\":0}],\"usage\":{\"prompt_tokens\":1}}"),
                facts)).isEqualTo(UsageExtractor.Kind.WITH_USAGE);
        assertThat(facts.usage().promptTokens()).isEqualTo(1L);
    }

    @Test
    void shouldKeepTheFirstIdAndTheLastUsage() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.read(bytes("{\"id\":\"a\",\"usage\":{\"prompt_tokens\":1}}"), facts);
        UsageExtractor.read(bytes("{\"id\":\"b\",\"usage\":null}"), facts);
        UsageExtractor.read(bytes("{\"id\":\"c\",\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}"), facts);

        assertThat(facts.responseId()).isEqualTo("a");
        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(9L, 4L, null, null, null));
    }

    @Test
    void shouldRecogniseBothErrorShapes() {
        ResponseFacts nested = new ResponseFacts();
        ResponseFacts legacy = new ResponseFacts();

        assertThat(UsageExtractor.read(resource("error.json"), nested)).isEqualTo(UsageExtractor.Kind.ERROR);
        assertThat(UsageExtractor.read(resource("error-legacy.json"), legacy)).isEqualTo(UsageExtractor.Kind.ERROR);

        assertThat(nested.errorSeen()).isTrue();
        assertThat(legacy.errorSeen()).isTrue();
        assertThat(nested.usage()).isNull();
    }

    @Test
    void shouldIgnoreLookalikeFieldsNestedDeeper() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.read(bytes("{\"choices\":[{\"message\":{\"usage\":{\"prompt_tokens\":5},\"error\":1,"
                + "\"id\":\"x\"}}],\"metadata\":{\"usage\":{\"prompt_tokens\":7}}}"), facts);

        assertThat(facts.usage()).isNull();
        assertThat(facts.errorSeen()).isFalse();
        assertThat(facts.responseId()).isNull();
    }

    @Test
    void shouldCallAnythingButAnObjectUnreadable() {
        assertThat(UsageExtractor.read(bytes("[1,2]"), new ResponseFacts())).isEqualTo(UsageExtractor.Kind.UNREADABLE);
        assertThat(UsageExtractor.read(bytes("{\"a\":"), new ResponseFacts()))
                .isEqualTo(UsageExtractor.Kind.UNREADABLE);
        assertThat(UsageExtractor.read(bytes("nonsense"), new ResponseFacts()))
                .isEqualTo(UsageExtractor.Kind.UNREADABLE);
    }

    @Test
    void shouldReadTheResponsesApiUsageInItsJsonBodyAndInItsCompletedEvent() {
        ResponseFacts body = new ResponseFacts();
        ResponseFacts event = new ResponseFacts();

        UsageExtractor.read(bytes("{\"id\":\"resp_1\",\"object\":\"response\",\"model\":\"m\",\"usage\":"
                + "{\"input_tokens\":10,\"input_tokens_details\":{\"cached_tokens\":4},\"output_tokens\":6,"
                + "\"output_tokens_details\":{\"reasoning_tokens\":2},\"total_tokens\":16}}"), body);
        UsageExtractor.read(bytes("{\"type\":\"response.completed\",\"sequence_number\":9,\"response\":"
                + "{\"id\":\"resp_2\",\"model\":\"m\",\"usage\":{\"input_tokens\":10,\"input_tokens_details\":"
                + "{\"cached_tokens\":4},\"output_tokens\":6,\"output_tokens_details\":{\"reasoning_tokens\":2},"
                + "\"total_tokens\":16}}}"), event);

        assertThat(body.usage()).isEqualTo(new ResponseFacts.Usage(10L, 6L, 16L, 4L, 2L));
        assertThat(event.usage()).isEqualTo(new ResponseFacts.Usage(10L, 6L, 16L, 4L, 2L));
        assertThat(event.responseId()).isEqualTo("resp_2");
        assertThat(event.finalUsageSeen()).isTrue();
    }

    @Test
    void shouldSayWhenCompletionTokensWereNullOrAbsent() {
        ResponseFacts nullCompletion = new ResponseFacts();
        ResponseFacts totalOnly = new ResponseFacts();

        UsageExtractor.read(bytes("{\"usage\":{\"prompt_tokens\":7,\"total_tokens\":7,\"completion_tokens\":null,"
                + "\"prompt_tokens_details\":null}}"), nullCompletion);
        UsageExtractor.read(bytes("{\"id\":\"rerank-1\",\"results\":[],\"usage\":{\"total_tokens\":30}}"), totalOnly);

        assertThat(nullCompletion.usage().completionReported()).isFalse();
        assertThat(nullCompletion.usage().promptTokens()).isEqualTo(7L);
        assertThat(totalOnly.usage()).isEqualTo(new ResponseFacts.Usage(null, null, 30L, null, null, false, null));
    }

    @Test
    void shouldReadAudioDurationUsageAsSecondsAndNoTokens() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.read(bytes("{\"text\":\"hello\",\"usage\":{\"type\":\"duration\",\"seconds\":12}}"), facts);

        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(null, null, null, null, null, false, 12.0));
    }

    @Test
    void shouldRecogniseAnErrorEventOfAResponsesStream() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.Kind kind = UsageExtractor.read(bytes("{\"type\":\"error\",\"code\":\"server_error\","
                + "\"message\":\"boom\",\"sequence_number\":3}"), facts);

        assertThat(kind).isEqualTo(UsageExtractor.Kind.ERROR);
        assertThat(facts.errorSeen()).isTrue();
    }

    @Test
    void shouldReadTheEventsOfAStreamThroughOneParserAsIfEachWereReadAlone() {
        List<String> events = List.of(
                "{\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"a\"}}],"
                        + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}",
                "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}],"
                        + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}",
                "{\"id\": \"cmpl-broken\", \"choices\": [",
                "this is not json",
                "{\"choices\":[{\"index\":0}],\"usage\":null}",
                "{\"id\":\"x\"} {\"usage\":{\"prompt_tokens\":99}}",
                "{\"object\":\"error\",\"message\":\"boom\",\"code\":500}",
                "\"just a string\"",
                "{\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,"
                        + "\"total_tokens\":8,\"prompt_tokens_details\":{\"cached_tokens\":4}}}");
        ResponseFacts alone = new ResponseFacts();
        ResponseFacts together = new ResponseFacts();
        UsageExtractor stream = UsageExtractor.forEvents(together);

        for (String event : events) {
            byte[] json = bytes(event);
            UsageExtractor.Kind expected = UsageExtractor.read(json, alone);

            assertThat(stream.readNext(json, 0, json.length)).as(event).isEqualTo(expected);
            assertThat(together.usage()).as(event).isEqualTo(alone.usage());
            assertThat(together.runningUsage()).as(event).isEqualTo(alone.runningUsage());
            assertThat(together.errorSeen()).as(event).isEqualTo(alone.errorSeen());
            assertThat(together.finalUsageSeen()).as(event).isEqualTo(alone.finalUsageSeen());
        }
        stream.close();
        assertThat(together.responseId()).isEqualTo("chatcmpl-1");
        assertThat(together.responseModel()).isEqualTo("m");
        assertThat(together.usage()).isEqualTo(new ResponseFacts.Usage(5L, 3L, 8L, 4L, null));
    }

    @ParameterizedTest
    @ValueSource(strings = {"-1000", "-1", "2.5", "7.0000000001", "1e30", "1000000001", "99999999999999999999999",
            "\"12\"", "true", "{}", "[3]", "1e-99999999999"})
    void shouldCallAUsageInvalidWhenAnyCountIsNotACount(String value) {
        String template = "{\"id\":\"cmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":P,\"completion_tokens\":C,"
                + "\"total_tokens\":T,\"prompt_tokens_details\":{\"cached_tokens\":K},"
                + "\"completion_tokens_details\":{\"reasoning_tokens\":R}}}";
        for (String field : List.of("P", "C", "T", "K", "R")) {
            // given one count that is not a count, the others fine
            String json = template.replace(field, value).replace("P", "3").replace("C", "2").replace("T", "5")
                    .replace("K", "1").replace("R", "0");
            ResponseFacts facts = new ResponseFacts();

            UsageExtractor.read(bytes(json), facts);

            assertThat(facts.usage()).as(json).isEqualTo(ResponseFacts.Usage.INVALID);
        }
    }

    @Test
    void shouldReadCountsUpToTheBoundAndWholeNumbersWrittenWithAFraction() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.read(bytes("{\"usage\":{\"prompt_tokens\":" + UsageEvent.MAX_USAGE
                + ",\"completion_tokens\":12.0,\"total_tokens\":1.2e1,\"prompt_tokens_details\":null}}"), facts);

        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(UsageEvent.MAX_USAGE, 12L, 12L, null, null));
    }

    @ParameterizedTest
    @ValueSource(strings = {"-3", "1e400", "\"60\"", "1000000001"})
    void shouldCallAnAudioDurationInvalidWhenItIsNoDuration(String seconds) {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.read(bytes("{\"usage\":{\"type\":\"duration\",\"seconds\":" + seconds + "}}"), facts);

        assertThat(facts.usage()).isEqualTo(ResponseFacts.Usage.INVALID);
    }

    @Test
    void shouldForgetAnInvalidUsageOnceALaterOneIsValid() {
        UsageExtractor events = UsageExtractor.forEvents(new ResponseFacts());
        ResponseFacts facts = new ResponseFacts();
        UsageExtractor stream = UsageExtractor.forEvents(facts);
        byte[] bad = bytes("{\"choices\":[{\"index\":0}],\"usage\":{\"prompt_tokens\":-1}}");
        byte[] good = bytes("{\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}");

        stream.readNext(bad, 0, bad.length);
        assertThat(facts.usage()).isEqualTo(ResponseFacts.Usage.INVALID);
        stream.readNext(good, 0, good.length);

        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(1L, 2L, null, null, null));
        events.close();
        stream.close();
    }

    @Test
    void shouldNotTakeACutIdOrModelForTheResponses() {
        ResponseFacts facts = new ResponseFacts();
        String longText = "x".repeat(3 * JsonWalker.MAX_STRING_BYTES);

        UsageExtractor.read(bytes("{\"id\":\"" + longText + "\",\"model\":\"" + longText
                + "\",\"usage\":{\"prompt_tokens\":4}}"), facts);

        assertThat(facts.responseId()).isNull();
        assertThat(facts.responseModel()).isNull();
        assertThat(facts.usage().promptTokens()).isEqualTo(4L);
    }

    private static byte[] fixture(String file) {
        try (java.io.InputStream in = UsageExtractorTest.class.getResourceAsStream("/vllm-fixtures/current/" + file)) {
            return in.readAllBytes();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Reads each {@code data:} line of an event stream as one event, the way the tap does. */
    private static ResponseFacts readEvents(byte[] sse) {
        ResponseFacts facts = new ResponseFacts();
        UsageExtractor events = UsageExtractor.forEvents(facts);
        for (String line : new String(sse, java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
            if (line.startsWith("data: ") && !line.equals("data: [DONE]")) {
                byte[] json = line.substring("data: ".length()).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                events.readNext(json, 0, json.length);
            }
        }
        events.close();
        return facts;
    }

    @Test
    void shouldReadTheUsageOfAnAnthropicMessage() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.read(fixture("messages.response.json"), facts);

        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(14L, 10L, null, null, null));
        assertThat(facts.responseId()).startsWith("chatcmpl-");
    }

    @Test
    void shouldTakeTheMessageDeltaOfAnAnthropicStreamForItsFinalUsage() {
        ResponseFacts facts = readEvents(fixture("messages-stream.response.sse"));

        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(14L, 10L, null, null, null));
        assertThat(facts.finalUsageSeen()).isTrue();
        assertThat(facts.responseId()).startsWith("chatcmpl-");
        assertThat(facts.responseModel()).isEqualTo("Qwen/Qwen2.5-1.5B-Instruct");
    }

    @Test
    void shouldNotTakeTheMessageStartOfAnAnthropicStreamForItsFinalUsage() {
        String start = "{\"type\":\"message_start\",\"message\":{\"id\":\"chatcmpl-1\",\"content\":[],"
                + "\"model\":\"m\",\"usage\":{\"input_tokens\":14,\"output_tokens\":0}}}";
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.read(start.getBytes(java.nio.charset.StandardCharsets.UTF_8), facts);

        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(14L, 0L, null, null, null));
        assertThat(facts.finalUsageSeen()).isFalse();
    }

    @Test
    void shouldAddAnthropicCacheReadsAndWritesToThePromptAndCountTheReadsAsCached() {
        String body = "{\"type\":\"message\",\"usage\":{\"input_tokens\":4,\"output_tokens\":10,"
                + "\"cache_read_input_tokens\":8,\"cache_creation_input_tokens\":2}}";
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.read(body.getBytes(java.nio.charset.StandardCharsets.UTF_8), facts);

        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(14L, 10L, null, 8L, null));
    }

    @Test
    void shouldReadCohereBilledUnitsAsPromptTokens() {
        ResponseFacts facts = new ResponseFacts();

        UsageExtractor.Kind kind = UsageExtractor.read(fixture("v2-embed.response.json"), facts);

        assertThat(kind).isEqualTo(UsageExtractor.Kind.WITH_USAGE);
        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(11L, null, 11L, null, null, false, null));
    }

    @Test
    void shouldCountTheTokenIdsOfAGenerateAnswerWholeAndStreamed() {
        ResponseFacts whole = new ResponseFacts();
        UsageExtractor.read(fixture("generate.response.json"), whole);
        ResponseFacts streamed = readEvents(fixture("generate-stream.response.sse"));

        assertThat(whole.usage()).isNull();
        assertThat(whole.generatedTokenIds()).isEqualTo(8);
        assertThat(streamed.generatedTokenIds()).isEqualTo(8);
    }

    @Test
    void shouldReadTheStatusOfAResponsesObjectWholeAndStreamed() {
        ResponseFacts queued = new ResponseFacts();
        UsageExtractor.read(fixture("responses-background.response.json"), queued);
        ResponseFacts streamed = readEvents(fixture("responses-stream.response.sse"));

        assertThat(queued.status()).isEqualTo("queued");
        assertThat(queued.usage()).isNull();
        assertThat(streamed.status()).isEqualTo("completed");
    }
}
