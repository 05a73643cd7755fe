package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.bytes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class JsonWalkerTest {

    /** Writes down what the walker reports: {@code path=value} for scalars, {@code path}@offset for closings. */
    private static final class Notes implements JsonWalker.Visitor {
        final List<String> seen = new ArrayList<>();
        JsonWalker walker;

        @Override
        public void onScalar(String path, JsonToken token, JsonParser parser) throws IOException {
            String text = parser.getText();
            if (walker != null && walker.stringCut()) {
                // a cut value: its length and how it begins, not its thousands of characters
                text = "cut(" + text.length() + "):" + text.substring(0, 3);
            }
            seen.add(path + "=" + text);
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
    void shouldStopReadingOneStreamedDocumentOfEverNewNamesAndReadTheNextOnAFreshTable() {
        // given a stream whose one event brings far more distinct member names than a stream's table keeps
        Notes notes = new Notes();
        JsonWalker walker = new JsonWalker(notes, true);
        StringBuilder hostile = new StringBuilder("{");
        for (int i = 0; i < 4 * JsonWalker.MAX_SYMBOLS; i++) {
            hostile.append("\"name").append(i).append("\":").append(i).append(',');
        }
        hostile.append("\"usage\":{\"prompt_tokens\":5}}");

        // when
        walker.nextDocument();
        byte[] bytes = bytes(hostile.toString());
        walker.feed(bytes, 0, bytes.length);

        // then that event is given up before its end, and the next one reads in full
        assertThat(walker.failed()).isTrue();
        assertThat(notes.seen).doesNotContain("usage.prompt_tokens=5");
        notes.seen.clear();
        walker.nextDocument();
        String next = "{\"usage\":{\"prompt_tokens\":7}}";
        byte[] nextBytes = bytes(next);
        walker.feed(nextBytes, 0, nextBytes.length);
        assertThat(walker.failed()).isFalse();
        assertThat(notes.seen).isEqualTo(walkAlone(next));
    }

    @Test
    void shouldRefuseASecondDocumentToAWalkerOfOne() {
        JsonWalker walker = new JsonWalker(new Notes());

        assertThatThrownBy(walker::nextDocument).isInstanceOf(IllegalStateException.class);
    }

    /** A string of {@code bytes} UTF-8 bytes mixing one-, two-, three- and four-byte characters and escapes. */
    private static String awkwardString(int bytes) {
        String[] parts = {"a", "é", "€", "😀", "\\\"", "\\\\", "\\u00e9", "\\uD83D\\uDE00", "\\n"};
        StringBuilder json = new StringBuilder();
        int length = 0;
        for (int i = 0; length < bytes; i++) {
            String part = parts[i % parts.length];
            json.append(part);
            length += part.getBytes(StandardCharsets.UTF_8).length;
        }
        return json.toString();
    }

    private static List<String> walkInPieces(byte[] document, int pieceSize) {
        Notes notes = new Notes();
        JsonWalker walker = new JsonWalker(notes);
        notes.walker = walker;
        for (int at = 0; at < document.length; at += pieceSize) {
            walker.feed(document, at, Math.min(pieceSize, document.length - at));
        }
        walker.endOfInput();
        assertThat(walker.failed()).isFalse();
        return notes.seen;
    }

    @Test
    void shouldReadWhatFollowsAStringLongerThanTheCutWhereverThePiecesSplitIt() {
        // given strings just under, at and well over the cut, of every kind of character and escape
        for (int length : new int[] {JsonWalker.MAX_STRING_BYTES - 3, JsonWalker.MAX_STRING_BYTES,
                JsonWalker.MAX_STRING_BYTES + 1, JsonWalker.MAX_STRING_BYTES + 5, 3 * JsonWalker.MAX_STRING_BYTES}) {
            String text = awkwardString(length);
            String json = "{\"choices\":[{\"text\":\"" + text + "\"}],\"usage\":{\"prompt_tokens\":5}}";
            byte[] document = bytes(json);
            for (int piece : new int[] {1, 3, 7, 1000, 4096, document.length}) {
                // when it is fed in pieces of any size
                List<String> seen = walkInPieces(document, piece);

                // then the usage after it is read, and every closing offset is that of its byte in the input
                assertThat(seen).as("length %d pieces of %d", length, piece)
                        .contains("usage.prompt_tokens=5", "usage@" + (document.length - 2),
                                "@" + (document.length - 1), "choices@" + indexOf(document, "],\"usage"));
            }
        }
    }

    @Test
    void shouldCutAStringBegunAmongEscapesBeforeTheDocumentGrewPastTheCutWhereverThePiecesSplitIt() {
        // given a document whose first 4 KiB are short strings of escaped quotes and backslashes (read without
        // following the strings, as no string can be cut yet), then a string begun there that runs past the cut
        StringBuilder json = new StringBuilder("{\"a\":[");
        while (json.length() < JsonWalker.MAX_STRING_BYTES - 40) {
            json.append("\"\\\"x\\\\\",\"\\\\\",");
        }
        json.append("\"\\\"\"],\"model\":\"").append("m".repeat(2 * JsonWalker.MAX_STRING_BYTES))
                .append("\",\"usage\":{\"prompt_tokens\":7}}");
        byte[] document = bytes(json.toString());
        List<Integer> splits = new ArrayList<>();
        for (int at = 1; at < document.length; at += at < JsonWalker.MAX_STRING_BYTES - 64
                || at > JsonWalker.MAX_STRING_BYTES + 64 ? 97 : 1) {
            splits.add(at);
        }
        for (int split : splits) {
            // when it comes in two pieces split anywhere, the second taking it past the cut
            Notes notes = new Notes();
            JsonWalker walker = new JsonWalker(notes);
            notes.walker = walker;
            walker.feed(document, 0, split);
            walker.feed(document, split, document.length - split);
            walker.endOfInput();

            // then the long string is cut where a lone walk would cut it, and what follows it is read
            assertThat(walker.failed()).isFalse();
            assertThat(notes.seen).as("split at %d", split).contains("model=cut(" + JsonWalker.MAX_STRING_BYTES
                    + "):mmm", "usage.prompt_tokens=7", "usage@" + (document.length - 2), "@" + (document.length - 1));
        }
        for (int piece : new int[] {1, 2, 3, 7, 4095, 4096, 4097}) {
            assertThat(walkInPieces(document, piece)).as("pieces of %d", piece)
                    .contains("model=cut(" + JsonWalker.MAX_STRING_BYTES + "):mmm", "usage.prompt_tokens=7");
        }
    }

    @Test
    void shouldSayAValueWasCutAndKeepItsBeginning() {
        String json = "{\"model\":\"" + "m".repeat(10 * JsonWalker.MAX_STRING_BYTES) + "\",\"user\":\"u\"}";

        List<String> seen = walkInPieces(bytes(json), 1000);

        assertThat(seen).containsExactly("model=cut(" + JsonWalker.MAX_STRING_BYTES + "):mmm", "user=u", "@"
                + (json.length() - 1));
    }

    @Test
    void shouldNotReportTheValueOfAMemberWhoseNameWasCut() {
        String longName = "usage" + "x".repeat(JsonWalker.MAX_STRING_BYTES);
        String json = "{\"" + longName + "\":{\"prompt_tokens\":1},\"usage\":{\"prompt_tokens\":2}}";

        List<String> seen = walkInPieces(bytes(json), 512);

        assertThat(seen).containsExactly("usage.prompt_tokens=2", "usage@" + (json.length() - 2),
                "@" + (json.length() - 1));
    }

    @Test
    void shouldNotGatherALongStringInMemory() {
        // given a 64 MiB string value, arriving in 16 KiB pieces as a response would
        byte[] piece = new byte[16 * 1024];
        Arrays.fill(piece, (byte) 'a');
        byte[] head = bytes("{\"choices\":[{\"text\":\"");
        byte[] tail = bytes("\"}],\"usage\":{\"prompt_tokens\":9}}");
        Notes notes = new Notes();
        JsonWalker walker = new JsonWalker(notes);
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();

        // when it is walked
        walker.feed(head, 0, head.length);
        for (int i = 0; i < 64 * 64; i++) {
            walker.feed(piece, 0, piece.length);
        }
        walker.feed(tail, 0, tail.length);
        walker.endOfInput();

        // then what the walk allocated is a small fixed amount, not the string (which Jackson would hold as
        // 128 MiB of chars), and the usage after it is read
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertThat(allocated).isLessThan(1 << 20);
        assertThat(notes.seen).contains("usage.prompt_tokens=9");
    }

    private static int indexOf(byte[] haystack, String needle) {
        byte[] n = bytes(needle);
        outer:
        for (int i = 0; i <= haystack.length - n.length; i++) {
            for (int j = 0; j < n.length; j++) {
                if (haystack[i + j] != n[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
