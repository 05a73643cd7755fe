package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.resource;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class JsonResponseTapTest {

    @Test
    void shouldPassEveryByteAndReadTheSameUsageWhateverTheSplitPosition() {
        byte[] body = resource("chat-completion.json");
        for (int split = 0; split <= body.length; split++) {
            ResponseFacts facts = new ResponseFacts();
            JsonResponseTap tap = new JsonResponseTap(facts);

            byte[] out = Pieces.splitAt(tap::transform, body, split, split % 2 == 1);

            assertThat(out).as("split at %d", split).isEqualTo(body);
            assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(21L, 7L, 28L, 16L, null));
            assertThat(facts.responseId()).isEqualTo("chatcmpl-4c1b2e7f0a9d4d2c8e6f1a2b3c4d5e6f");
            assertThat(facts.responseModel()).isEqualTo("Qwen/Qwen2.5-1.5B-Instruct");
        }
    }

    @Test
    void shouldReadACompletionFedByteByByte() {
        ResponseFacts facts = new ResponseFacts();
        byte[] body = resource("completion.json");

        byte[] out = Pieces.byteByByte(new JsonResponseTap(facts)::transform, body);

        assertThat(out).isEqualTo(body);
        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(5L, 5L, 10L, null, 2L));
    }

    @Test
    void shouldNoticeAnErrorBody() {
        ResponseFacts facts = new ResponseFacts();

        Pieces.splitAt(new JsonResponseTap(facts)::transform, resource("error.json"), 20, false);

        assertThat(facts.errorSeen()).isTrue();
        assertThat(facts.usage()).isNull();
    }

    @Test
    void shouldPassABodyThatIsNotJson() {
        ResponseFacts facts = new ResponseFacts();
        byte[] body = Pieces.bytes("<html>502</html>");

        assertThat(Pieces.splitAt(new JsonResponseTap(facts)::transform, body, 4, false)).isEqualTo(body);
        assertThat(facts.usage()).isNull();
    }
}
