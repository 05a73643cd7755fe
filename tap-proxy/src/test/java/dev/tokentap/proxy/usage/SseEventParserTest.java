package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.bytes;
import static dev.tokentap.proxy.usage.Pieces.resource;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SseEventParserTest {

    /** An event as text, and the index of its end within the whole input. */
    private record Seen(String type, String data, long end, boolean done) {
        Seen(String type, String data, long end) {
            this(type, data, end, "[DONE]".equals(data));
        }
    }

    private static List<Seen> parse(byte[] input, int... splits) {
        SseEventParser parser = new SseEventParser();
        List<Seen> seen = new ArrayList<>();
        java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
        int from = 0;
        int[] bounds = new int[splits.length + 1];
        System.arraycopy(splits, 0, bounds, 0, splits.length);
        bounds[splits.length] = input.length;
        for (int to : bounds) {
            // a piece sits at an offset in a bigger array, as in a pooled buffer
            byte[] array = new byte[to - from + 10];
            System.arraycopy(input, from, array, 5, to - from);
            int base = from;
            parser.feed(array, 5, to - from, new SseEventParser.Listener() {
                @Override
                public void onData(byte[] bytes, int offset, int length, boolean first) {
                    if (first) {
                        assertThat(data.size()).isZero();
                    }
                    data.write(bytes, offset, length);
                }

                @Override
                public void onEvent(SseEventParser.SseEvent event, int end) {
                    String text = event.hasData() ? data.toString(StandardCharsets.UTF_8) : null;
                    assertThat(event.hasData() || data.size() == 0).isTrue();
                    data.reset();
                    seen.add(new Seen(event.type(), text, base + end - 5, event.done()));
                }
            });
            from = to;
        }
        return seen;
    }

    @Test
    void shouldSplitVllmChunksIntoEvents() {
        byte[] input = resource("chat-stream-usage.sse");

        List<Seen> events = parse(input);

        assertThat(events).hasSize(5);
        assertThat(events.get(0).data()).startsWith("{\"id\":\"chatcmpl-").endsWith("}]}");
        assertThat(events.get(3).data()).contains("\"choices\":[],\"usage\":");
        assertThat(events.get(4).data()).isEqualTo("[DONE]");
        assertThat(events.get(4).end()).isEqualTo(input.length);
    }

    @Test
    void shouldFindTheSameEventsWhateverTheSplitPosition() {
        byte[] input = resource("completion-stream-usage.sse");
        List<Seen> whole = parse(input);
        for (int split = 0; split <= input.length; split++) {
            assertThat(parse(input, split)).as("split at %d", split).isEqualTo(whole);
        }
        int[] everyByte = new int[input.length - 1];
        for (int i = 0; i < everyByte.length; i++) {
            everyByte[i] = i + 1;
        }
        assertThat(parse(input, everyByte)).isEqualTo(whole);
    }

    @Test
    void shouldEndEventsAtCrlfBlankLinesWhateverTheSplitPosition() {
        byte[] input = bytes(Pieces.text(resource("chat-stream-usage.sse")).replace("\n", "\r\n"));
        List<Seen> whole = parse(input);

        assertThat(whole).hasSize(5);
        assertThat(whole.get(4).data()).isEqualTo("[DONE]");
        assertThat(whole.get(0).data()).doesNotContain("\r");
        for (int split = 0; split <= input.length; split++) {
            assertThat(parse(input, split)).as("split at %d", split).isEqualTo(whole);
        }
    }

    @Test
    void shouldReadEventTypesMultiLineDataAndSkipComments() {
        byte[] input = bytes(": keep-alive\n\nevent: response.completed\ndata: {\"a\":\ndata:1}\nid: 7\n\n");

        List<Seen> events = parse(input);

        assertThat(events).containsExactly(
                new Seen(null, null, 14),
                new Seen("response.completed", "{\"a\":\n1}", input.length));
    }

    @Test
    void shouldJoinEveryDataLineOfAnEventEmptyOnesIncluded() {
        byte[] input = bytes("data: one\ndata:\ndata: three\r\ndata: four\n\ndata: alone\n\n");

        List<Seen> events = parse(input);

        assertThat(events).extracting(Seen::data).containsExactly("one\n\nthree\nfour", "alone");
    }

    @Test
    void shouldNotEndAnEventAtASingleNewline() {
        assertThat(parse(bytes("data: {\"a\":1}\n"))).isEmpty();
        assertThat(parse(bytes("data: {\"a\":1}\r\n\r"))).isEmpty();
    }

    @Test
    void shouldHandOnTheDataOfAnEventOfAnySizeAsItArrives() {
        String big = "x".repeat(3 << 20);
        byte[] input = bytes("event: response.completed\ndata: " + big + "\n\ndata: [DONE]\n\n");

        List<Seen> events = parse(input, 1000, 1 << 20, (2 << 20) + 7);

        assertThat(events).hasSize(2);
        assertThat(events.get(0).type()).isEqualTo("response.completed");
        assertThat(events.get(0).data()).isEqualTo(big);
        assertThat(events.get(1).done()).isTrue();
    }

    @Test
    void shouldKeepACarriageReturnInsideDataAndDropTheOneBeforeALineEndWhateverTheSplit() {
        byte[] input = bytes("data: a\rb\r\ndata: c\r\n\r\nevent: x\r\nevent: y\r\ndata\r\n\r\n");
        List<Seen> whole = parse(input);

        assertThat(whole).containsExactly(new Seen(null, "a\rb\nc", 22), new Seen("y", "", input.length));
        for (int split = 0; split <= input.length; split++) {
            assertThat(parse(input, split)).as("split at %d", split).isEqualTo(whole);
        }
    }

    @Test
    void shouldTellDoneOnlyOfTheWholeMarker() {
        assertThat(parse(bytes("data: [DONE]\n\ndata: [DONE]x\n\ndata: [DON\n\n")))
                .extracting(Seen::done).containsExactly(true, false, false);
    }

    @Test
    void shouldDropAnEventTypeLongerThanAnyVllmSends() {
        byte[] input = bytes("event: " + "t".repeat(SseEventParser.MAX_TYPE_BYTES + 1) + "\ndata: {}\n\n");

        assertThat(parse(input, 20)).containsExactly(new Seen(null, "{}", input.length));
    }
}
