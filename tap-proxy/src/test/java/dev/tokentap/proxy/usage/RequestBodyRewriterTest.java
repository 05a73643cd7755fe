package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.bytes;
import static dev.tokentap.proxy.usage.Pieces.text;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.event.Routes;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class RequestBodyRewriterTest {

    private static final String STREAMING_CHAT = """
            {"messages":[{"role":"user","content":"Say {hi} \\"}\\" please"}],"model":"Qwen/Qwen2.5-1.5B-Instruct",\
            "stream":true,"user":"alice","max_tokens":16}""";

    private static String injected(String body) {
        int brace = body.lastIndexOf('}');
        return body.substring(0, brace) + "," + RequestBodyRewriter.INJECTED_STREAM_OPTIONS + body.substring(brace);
    }

    @Test
    void shouldInjectStreamOptionsBeforeTheClosingBraceWhenStreamingWithoutThem() {
        RequestBodyRewriter rewriter = new RequestBodyRewriter();

        byte[] out = Pieces.splitAt(rewriter::transform, bytes(STREAMING_CHAT), 0, false);

        assertThat(text(out)).isEqualTo(injected(STREAMING_CHAT));
        assertThat(rewriter.injected()).isTrue();
        assertThat(rewriter.model()).isEqualTo("Qwen/Qwen2.5-1.5B-Instruct");
        assertThat(rewriter.stream()).isTrue();
        assertThat(rewriter.user()).isEqualTo("alice");
        assertThat(rewriter.streamOptionsPresent()).isFalse();
        assertThat(rewriter.complete()).isTrue();
    }

    @Test
    void shouldGiveTheSameBytesAndFieldsWhateverTheSplitPosition() {
        byte[] input = bytes(STREAMING_CHAT + "\n  ");
        String expected = injected(STREAMING_CHAT) + "\n  ";
        for (int split = 0; split <= input.length; split++) {
            for (boolean direct : new boolean[] {false, true}) {
                RequestBodyRewriter rewriter = new RequestBodyRewriter();
                byte[] out = Pieces.splitAt(rewriter::transform, input, split, direct);
                assertThat(text(out)).as("split at %d direct=%s", split, direct).isEqualTo(expected);
                assertThat(rewriter.model()).isEqualTo("Qwen/Qwen2.5-1.5B-Instruct");
                assertThat(rewriter.user()).isEqualTo("alice");
            }
        }
        RequestBodyRewriter rewriter = new RequestBodyRewriter();
        assertThat(text(Pieces.byteByByte(rewriter::transform, input))).isEqualTo(expected);
        assertThat(rewriter.stream()).isTrue();
    }

    @Test
    void shouldInjectWhenStreamComesAfterEveryOtherKeyAndBeforeWhitespaceOfTheClosingBrace() {
        String body = "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":true\n}";
        RequestBodyRewriter rewriter = new RequestBodyRewriter();

        byte[] out = Pieces.byteByByte(rewriter::transform, bytes(body));

        assertThat(text(out)).isEqualTo("{\"model\":\"m\",\"prompt\":\"x\",\"stream\":true\n,"
                + RequestBodyRewriter.INJECTED_STREAM_OPTIONS + "}");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"model\":\"m\",\"stream\":false}",
        "{\"model\":\"m\",\"stream\":\"false\"}",
        "{\"model\":\"m\",\"stream\":0,\"stream_options\":{}}",
        "{\"model\":\"m\",\"stream\":\"Off\"}",
        "{\"model\":\"m\",\"stream\":null}",
        "{\"model\":\"m\",\"stream\":2}",
        "{\"model\":\"m\",\"stream\":\"maybe\"}",
        "{\"model\":\"m\",\"stream\":true,\"stream_options\":[]}",
        "{\"model\":\"m\",\"stream\":true,\"stream_options\":5}",
        "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":\"maybe\"}}",
        "{\"model\":\"m\"}",
        "{\"model\":\"m\",\"extra\":{\"stream\":true}}",
        "{}"
    })
    void shouldLeaveTheBodyUntouchedUnlessVllmWouldReadAStream(String body) {
        RequestBodyRewriter rewriter = new RequestBodyRewriter();

        byte[] out = Pieces.splitAt(rewriter::transform, bytes(body), body.length() / 2, false);

        assertThat(text(out)).isEqualTo(body);
        assertThat(rewriter.injected()).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"true", "1", "1.0", "\"true\"", "\"1\"", "\"yes\"", "\" ON \"", "\"t\"", "\"Y\""})
    void shouldReadStreamAsVllmDoes(String value) {
        String body = "{\"model\":\"m\",\"stream\":" + value + "}";
        RequestBodyRewriter rewriter = new RequestBodyRewriter();

        byte[] out = Pieces.byteByByte(rewriter::transform, bytes(body));

        assertThat(rewriter.stream()).isTrue();
        assertThat(text(out)).isEqualTo(body.substring(0, body.length() - 1) + ","
                + RequestBodyRewriter.INJECTED_STREAM_OPTIONS + "}");
    }

    /** vLLM keeps the last of repeated names (Python's json): the added member is the one it reads. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "null|",
        "{}|",
        "{ }|",
        "{\"include_usage\":false}|\"include_usage\":false,",
        "{\"continuous_usage_stats\":true}|\"continuous_usage_stats\":true,",
        "{\"include_usage\":true}|\"include_usage\":true,",
        "{\"include_usage\": null, \"x\": {\"y\": [1]}}|\"include_usage\": null, \"x\": {\"y\": [1]},",
    })
    void shouldAskForUsageWhateverTheClientPutInStreamOptions(String options, String kept) {
        String body = "{\"model\":\"m\",\"stream_options\":" + options + ",\"stream\":true}";
        String expected = body.substring(0, body.length() - 1) + ",\"stream_options\":{" + (kept == null ? "" : kept)
                + "\"include_usage\":true,\"continuous_usage_stats\":true}}";
        for (int split = 1; split < body.length(); split++) {
            RequestBodyRewriter rewriter = new RequestBodyRewriter();

            byte[] out = Pieces.splitAt(rewriter::transform, bytes(body), split, false);

            assertThat(text(out)).as("split at %d", split).isEqualTo(expected);
            assertThat(rewriter.injected()).isTrue();
        }
        RequestBodyRewriter rewriter = new RequestBodyRewriter();
        Pieces.byteByByte(rewriter::transform, bytes(body));
        assertThat(rewriter.clientStreamOptions().present()).isEqualTo(!options.equals("null"));
    }

    @Test
    void shouldReadTheClientsStreamOptionsAsVllmDoes() {
        RequestBodyRewriter rewriter = new RequestBodyRewriter();
        String body = "{\"stream\":\"yes\",\"stream_options\":{\"include_usage\":\"false\","
                + "\"continuous_usage_stats\":1}}";

        Pieces.byteByByte(rewriter::transform, bytes(body));

        assertThat(rewriter.clientStreamOptions())
                .isEqualTo(new ClientStreamOptions(true, LaxBool.FALSE, LaxBool.TRUE));
    }

    @Test
    void shouldNoticeStreamOptionsWhateverItsValue() {
        RequestBodyRewriter rewriter = new RequestBodyRewriter();
        Pieces.splitAt(rewriter::transform, bytes("{\"stream\":true,\"stream_options\":null}"), 5, false);
        assertThat(rewriter.streamOptionsPresent()).isTrue();
        assertThat(rewriter.stream()).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "not json at all {\"stream\":true}",
        "[{\"stream\":true}]",
        "{\"model\":\"m\",\"stream\":true",
        "{\"model\":\"m\",\"stream\":tru}",
        "\"just a string\"",
        ""
    })
    void shouldForwardMalformedOrNonObjectBodiesUntouched(String body) {
        RequestBodyRewriter rewriter = new RequestBodyRewriter();

        byte[] out = Pieces.splitAt(rewriter::transform, bytes(body), body.length() / 3, false);

        assertThat(text(out)).isEqualTo(body);
        assertThat(rewriter.injected()).isFalse();
    }

    @Test
    void shouldKeepWhatWasReadBeforeTheBodyTurnedMalformed() {
        RequestBodyRewriter rewriter = new RequestBodyRewriter();

        Pieces.splitAt(rewriter::transform, bytes("{\"model\":\"m\",\"stream\":true,\"x\":nope}"), 10, false);

        assertThat(rewriter.model()).isEqualTo("m");
        assertThat(rewriter.injected()).isFalse();
        assertThat(rewriter.complete()).isFalse();
    }

    @Test
    void shouldPassTrailingBytesAfterTheObjectThrough() {
        RequestBodyRewriter rewriter = new RequestBodyRewriter();
        String body = "{\"stream\":true}{\"stream\":true}";

        byte[] out = Pieces.byteByByte(rewriter::transform, bytes(body));

        assertThat(text(out)).isEqualTo("{\"stream\":true," + RequestBodyRewriter.INJECTED_STREAM_OPTIONS
                + "}{\"stream\":true}");
    }

    @Test
    void shouldOnlyReadWhenInjectionIsNotAllowed() {
        RequestBodyRewriter rewriter = new RequestBodyRewriter(false);

        byte[] out = Pieces.feed(rewriter::transform, List.of(bytes(STREAMING_CHAT)), false);

        assertThat(text(out)).isEqualTo(STREAMING_CHAT);
        assertThat(rewriter.stream()).isTrue();
        assertThat(rewriter.injected()).isFalse();
    }

    @Test
    void shouldReadMultiByteCharactersSplitAcrossPieces() {
        String body = "{\"model\":\"m\",\"user\":\"zoë 日本\",\"stream\":true}";
        byte[] input = bytes(body);
        for (int split = 0; split <= input.length; split++) {
            RequestBodyRewriter rewriter = new RequestBodyRewriter();
            Pieces.splitAt(rewriter::transform, input, split, split % 2 == 0);
            assertThat(rewriter.user()).isEqualTo("zoë 日本");
            assertThat(rewriter.injected()).isTrue();
        }
    }

    @Test
    void shouldNotAskForUsageOnACompletionsBeamSearchWhichIsNoStream() {
        String beam = "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":true,\"use_beam_search\":true}";
        for (String route : new String[] {Routes.COMPLETIONS, Routes.INVOCATIONS}) {
            RequestBodyRewriter rewriter = RequestBodyRewriter.forRoute(route,
                    RequestBodyRewriter.INJECTED_STREAM_OPTIONS);

            byte[] out = Pieces.splitAt(rewriter::transform, bytes(beam), 7, false);

            assertThat(text(out)).as(route).isEqualTo(beam);
            assertThat(rewriter.injected()).isFalse();
        }
    }

    @Test
    void shouldAskForUsageOnAChatBeamSearchWhichStreamsLikeAnyChat() {
        String beam = "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"use_beam_search\":true}";
        RequestBodyRewriter rewriter = RequestBodyRewriter.forRoute(Routes.CHAT_COMPLETIONS,
                RequestBodyRewriter.INJECTED_STREAM_OPTIONS);

        byte[] out = Pieces.splitAt(rewriter::transform, bytes(beam), 7, false);

        assertThat(text(out)).isEqualTo(beam.substring(0, beam.length() - 1) + ","
                + RequestBodyRewriter.INJECTED_STREAM_OPTIONS + "}");
        assertThat(rewriter.injected()).isTrue();
    }

    @Test
    void shouldClassifyAnInvocationsBodyAsVllmDoesAndAskOnlyChatAndCompletionsStreamsForUsage() {
        String chat = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";
        String completion = "{\"model\":\"m\",\"prompt\":[1,2],\"stream\":true}";
        String embedding = "{\"model\":\"m\",\"input\":\"hi\",\"stream\":true}";
        String[][] cases = {{chat, Routes.CHAT_COMPLETIONS}, {completion, Routes.COMPLETIONS}, {embedding, null}};
        for (String[] c : cases) {
            for (int split = 0; split <= c[0].length(); split++) {
                RequestBodyRewriter rewriter = RequestBodyRewriter.forRoute(Routes.INVOCATIONS,
                        RequestBodyRewriter.INJECTED_STREAM_OPTIONS);

                byte[] out = Pieces.splitAt(rewriter::transform, bytes(c[0]), split, split % 2 == 0);

                assertThat(rewriter.bodyRoute()).as(c[0]).isEqualTo(c[1]);
                assertThat(rewriter.injected()).as(c[0]).isEqualTo(c[1] != null);
                assertThat(text(out)).isEqualTo(c[1] == null ? c[0]
                        : c[0].substring(0, c[0].length() - 1) + "," + RequestBodyRewriter.INJECTED_STREAM_OPTIONS
                                + "}");
            }
        }
    }

    @Test
    void shouldCountThePromptTokenIdsOfAGenerateRequestAndNeverRewriteIt() {
        String generate = "{\"token_ids\":[151644,872,198],\"sampling_params\":{\"max_tokens\":4},\"stream\":true}";
        RequestBodyRewriter rewriter = RequestBodyRewriter.forRoute(Routes.GENERATE,
                RequestBodyRewriter.INJECTED_STREAM_OPTIONS);

        byte[] out = Pieces.splitAt(rewriter::transform, bytes(generate), 9, false);

        assertThat(text(out)).isEqualTo(generate);
        assertThat(rewriter.tokenIds()).isEqualTo(3);
    }

    @Test
    void shouldInjectOnlyIncludeUsageWhenContinuousUsageIsOff() {
        RequestBodyRewriter rewriter = new RequestBodyRewriter(RequestBodyRewriter.INJECTED_INCLUDE_USAGE);

        byte[] out = Pieces.splitAt(rewriter::transform, bytes(STREAMING_CHAT), 3, false);

        assertThat(text(out)).endsWith("," + RequestBodyRewriter.INJECTED_INCLUDE_USAGE + "}");
        assertThat(rewriter.injectedContinuousUsage()).isFalse();
    }
}
