package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.bytes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class JsonWalkerTest {

    /** Writes down what the walker reports: {@code path=value} for scalars, {@code path}@offset for closings. */
    private static final class Notes implements JsonWalker.Visitor {
        final List<String> seen = new ArrayList<>();

        @Override
        public void onScalar(String path, JsonToken token, JsonParser parser) throws IOException {
            seen.add(path + "=" + parser.getText());
        }

        @Override
        public void onEnd(String path, JsonToken token, boolean empty, long byteOffset) {
            seen.add(path + "@" + byteOffset);
        }
    }

    private static List<String> walkAlone(String json) {
        Notes notes = new Notes();
        JsonWalker walker = new JsonWalker(notes);
        byte[] bytes = bytes(json);
        walker.feed(bytes, 0, bytes.length);
        walker.endOfInput();
        return notes.seen;
    }

    @Test
    void shouldReportTheSameOfEveryDocumentOfASequenceAsOfThatDocumentAlone() {
        List<String> documents = List.of(
                "{\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":1}}",
                "{\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"y\"}}],\"usage\":{\"prompt_tokens\":2}}",
                // broken: the next one must not be read as its continuation
                "{\"id\":\"b\",\"choices\":[",
                "{\"id\":\"c\",\"usage\":{\"completion_tokens\":3}}",
                // bytes after the root value
                "{\"id\":\"d\"} trailing",
                "{\"id\":\"e\",\"usage\":{\"total_tokens\":4}}",
                "42",
                "{\"id\":\"f\"}",
                "[1,2]",
                "   ",
                "{\"id\":\"g\",\"choices\":[]}");
        Notes notes = new Notes();
        JsonWalker walker = new JsonWalker(notes, true);

        for (String document : documents) {
            notes.seen.clear();
            walker.nextDocument();
            byte[] bytes = bytes(document);
            walker.feed(bytes, 0, bytes.length);

            assertThat(notes.seen).as(document).isEqualTo(walkAlone(document));
        }
        walker.close();
        assertThat(walker.active()).isFalse();
    }

    @Test
    void shouldCountOffsetsFromTheStartOfEachDocument() {
        Notes notes = new Notes();
        JsonWalker walker = new JsonWalker(notes, true);

        for (int i = 0; i < 3; i++) {
            notes.seen.clear();
            walker.nextDocument();
            byte[] bytes = bytes("{\"usage\":{\"n\":" + i + "}}");
            walker.feed(bytes, 0, bytes.length);

            assertThat(notes.seen).containsExactly("usage.n=" + i, "usage@15", "@16");
            assertThat(walker.rootClosed()).isTrue();
        }
    }

    @Test
    void shouldReadADocumentOfASequenceFedInPieces() {
        Notes notes = new Notes();
        JsonWalker walker = new JsonWalker(notes, true);
        walker.nextDocument();
        byte[] first = bytes("{\"a\":1}");
        walker.feed(first, 0, first.length);

        notes.seen.clear();
        walker.nextDocument();
        byte[] second = bytes("{\"usage\":{\"prompt_tokens\":17}}");
        for (int i = 0; i < second.length; i++) {
            walker.feed(second, i, 1);
        }

        assertThat(notes.seen).isEqualTo(walkAlone("{\"usage\":{\"prompt_tokens\":17}}"));
    }

    @Test
    void shouldStillReportEveryPathOnceItHasStoppedRememberingNewOnes() {
        Notes notes = new Notes();
        JsonWalker walker = new JsonWalker(notes, true);

        // far more distinct member names than the walker keeps paths for
        for (int i = 0; i < 600; i++) {
            notes.seen.clear();
            walker.nextDocument();
            String document = "{\"usage\":{\"field" + i + "\":" + i + "},\"choices\":[{\"k" + i + "\":1}]}";
            byte[] bytes = bytes(document);
            walker.feed(bytes, 0, bytes.length);

            assertThat(notes.seen).as(document).isEqualTo(walkAlone(document));
        }
    }

    @Test
    void shouldRefuseASecondDocumentToAWalkerOfOne() {
        JsonWalker walker = new JsonWalker(new Notes());

        assertThatThrownBy(walker::nextDocument).isInstanceOf(IllegalStateException.class);
    }
}
