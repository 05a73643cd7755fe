package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.bytes;
import static dev.tokentap.proxy.usage.Pieces.resource;
import static dev.tokentap.proxy.usage.Pieces.text;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SseResponseTapTest {

    private static final ResponseFacts.Usage CHAT_USAGE = new ResponseFacts.Usage(21L, 2L, 23L, null, null);
    private static final ResponseFacts.Usage COMPLETION_USAGE = new ResponseFacts.Usage(5L, 3L, 8L, null, null);

    private static void assertStripsAtEverySplit(byte[] upstream, byte[] client, ResponseFacts.Usage usage) {
        for (int split = 0; split <= upstream.length; split++) {
            ResponseFacts facts = new ResponseFacts();
            SseResponseTap tap = new SseResponseTap(facts, true);

            byte[] out = Pieces.splitAt(tap::transform, upstream, split, split % 2 == 0);

            assertThat(text(out)).as("split at %d", split).isEqualTo(text(client));
            assertThat(facts.usage()).as("split at %d", split).isEqualTo(usage);
            assertThat(tap.strippedEvents()).isEqualTo(1);
        }
        ResponseFacts facts = new ResponseFacts();
        assertThat(text(Pieces.byteByByte(new SseResponseTap(facts, true)::transform, upstream)))
                .isEqualTo(text(client));
        assertThat(facts.usage()).isEqualTo(usage);
    }

    @Test
    void shouldStripInjectedUsageChunkWhenClientDidNotAskForChat() {
        assertStripsAtEverySplit(resource("chat-stream-usage.sse"), resource("chat-stream.sse"), CHAT_USAGE);
    }

    @Test
    void shouldStripInjectedUsageChunkWhenClientDidNotAskForCompletions() {
        assertStripsAtEverySplit(resource("completion-stream-usage.sse"), resource("completion-stream.sse"),
                COMPLETION_USAGE);
    }

    @Test
    void shouldStripWithCrlfLineEndings() {
        assertStripsAtEverySplit(bytes(text(resource("chat-stream-usage.sse")).replace("\n", "\r\n")),
                bytes(text(resource("chat-stream.sse")).replace("\n", "\r\n")), CHAT_USAGE);
    }

    @Test
    void shouldPassEveryByteWhenOnlyObserving() {
        byte[] upstream = resource("completion-stream-usage.sse");
        for (int split = 0; split <= upstream.length; split++) {
            ResponseFacts facts = new ResponseFacts();
            SseResponseTap tap = new SseResponseTap(facts, false);

            byte[] out = Pieces.splitAt(tap::transform, upstream, split, split % 2 == 1);

            assertThat(out).as("split at %d", split).isEqualTo(upstream);
            assertThat(facts.usage()).isEqualTo(COMPLETION_USAGE);
            assertThat(facts.responseId()).isEqualTo("cmpl-1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6");
            assertThat(tap.strippedEvents()).isZero();
        }
    }

    @Test
    void shouldSeeNoUsageInAStreamWithoutTheUsageChunk() {
        ResponseFacts facts = new ResponseFacts();
        byte[] upstream = resource("completion-stream.sse");

        byte[] out = Pieces.splitAt(new SseResponseTap(facts, false)::transform, upstream, 100, false);

        assertThat(out).isEqualTo(upstream);
        assertThat(facts.usage()).isNull();
        assertThat(facts.responseModel()).isEqualTo("Qwen/Qwen2.5-1.5B-Instruct");
    }

    @Test
    void shouldNoticeAnErrorEventAfterTheStreamBegan() {
        byte[] upstream = resource("chat-stream-error.sse");
        for (int split = 0; split <= upstream.length; split++) {
            ResponseFacts facts = new ResponseFacts();

            byte[] out = Pieces.splitAt(new SseResponseTap(facts, true)::transform, upstream, split, false);

            assertThat(out).isEqualTo(upstream);
            assertThat(facts.errorSeen()).as("split at %d", split).isTrue();
            assertThat(facts.usage()).isNull();
        }
    }

    @Test
    void shouldPassCompleteEventsAtOnceAndHoldBackOnlyAnUnfinishedOne() {
        ResponseFacts facts = new ResponseFacts();
        SseResponseTap tap = new SseResponseTap(facts, true);
        List<ByteBuffer> output = new ArrayList<>();

        tap.transform(ByteBuffer.wrap(bytes("data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: {\"c\"")), false, output);

        assertThat(joined(output)).isEqualTo("data: {\"a\":1}\n\ndata: {\"b\":2}\n\n");
        assertThat(output).hasSize(1);

        output.clear();
        tap.transform(ByteBuffer.wrap(bytes(":3}\n\n")), false, output);

        assertThat(joined(output)).isEqualTo("data: {\"c\":3}\n\n");
    }

    @Test
    void shouldLetAnUnfinishedEventGoWhenTheStreamEnds() {
        ResponseFacts facts = new ResponseFacts();
        SseResponseTap tap = new SseResponseTap(facts, true);
        List<ByteBuffer> output = new ArrayList<>();

        tap.transform(ByteBuffer.wrap(bytes("data: {\"a\":1}\n\ndata: trunc")), false, output);
        tap.transform(ByteBuffer.allocate(0), true, output);

        assertThat(joined(output)).isEqualTo("data: {\"a\":1}\n\ndata: trunc");
    }

    @Test
    void shouldPassAnEventTooLongToHoldAsItComesAndNeverDropOrSpliceIt() {
        ResponseFacts facts = new ResponseFacts();
        SseResponseTap tap = new SseResponseTap(facts, true, ChunkUsageSplice.Mode.REMOVE);
        List<ByteBuffer> output = new ArrayList<>();
        // a usage-only chunk padded past what the strip holds: its start has gone before its end is seen
        String padding = " ".repeat(SseResponseTap.MAX_HELD_EVENT_BYTES);
        byte[] head = bytes("data: {\"choices\":[]," + padding);
        byte[] tail = bytes("\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n");

        tap.transform(ByteBuffer.wrap(head), false, output);
        assertThat(output.stream().mapToInt(ByteBuffer::remaining).sum()).isEqualTo(head.length);
        output.clear();
        tap.transform(ByteBuffer.wrap(tail), true, output);

        assertThat(joined(output)).isEqualTo(text(tail));
        assertThat(tap.strippedEvents()).isZero();
        // still read: the usage counts
        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(1L, 2L, null, null, null));
    }

    @Test
    void shouldReadTheUsageAfterAnEventOfManyMiBWithoutGatheringIt() {
        ResponseFacts facts = new ResponseFacts();
        SseResponseTap tap = new SseResponseTap(facts, false);
        List<ByteBuffer> output = new ArrayList<>();
        byte[] piece = bytes("x".repeat(64 * 1024));
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();

        // a Responses API stream whose completed event carries 64 MiB of output text
        tap.transform(ByteBuffer.wrap(bytes("event: response.completed\ndata: {\"type\":\"response.completed\","
                + "\"response\":{\"id\":\"resp_1\",\"output\":[{\"content\":[{\"text\":\"")), false, output);
        for (int i = 0; i < 1024; i++) {
            tap.transform(ByteBuffer.wrap(piece), false, output);
        }
        tap.transform(ByteBuffer.wrap(bytes("\"}]}],\"usage\":{\"input_tokens\":5,\"output_tokens\":7}}}\n\n")),
                true, output);

        assertThat(threads.getCurrentThreadAllocatedBytes() - before).isLessThan(4 << 20);
        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(5L, 7L, null, null, null));
        assertThat(facts.finalUsageSeen()).isTrue();
    }

    private static String joined(List<ByteBuffer> buffers) {
        StringBuilder sb = new StringBuilder();
        for (ByteBuffer b : buffers) {
            byte[] copy = new byte[b.remaining()];
            b.duplicate().get(copy);
            sb.append(text(copy));
        }
        return sb.toString();
    }

    private static void assertSplicesAtEverySplit(byte[] upstream, byte[] client, ChunkUsageSplice.Mode mode,
                                                  ResponseFacts.Usage usage) {
        for (int split = 0; split <= upstream.length; split++) {
            ResponseFacts facts = new ResponseFacts();
            SseResponseTap tap = new SseResponseTap(facts, true, mode);

            byte[] out = Pieces.splitAt(tap::transform, upstream, split, split % 2 == 0);

            assertThat(text(out)).as("split at %d", split).isEqualTo(text(client));
            assertThat(facts.usage()).as("split at %d", split).isEqualTo(usage);
            assertThat(facts.finalUsageSeen()).isTrue();
        }
        ResponseFacts facts = new ResponseFacts();
        assertThat(text(Pieces.byteByByte(new SseResponseTap(facts, true, mode)::transform, upstream)))
                .isEqualTo(text(client));
    }

    @Test
    void shouldRemoveEveryChunksContinuousUsageFromAChatStreamByteForByte() {
        assertSplicesAtEverySplit(resource("chat-stream-continuous.sse"), resource("chat-stream.sse"),
                ChunkUsageSplice.Mode.REMOVE, CHAT_USAGE);
    }

    @Test
    void shouldPutBackUsageNullInEveryCompletionsChunkByteForByte() {
        assertSplicesAtEverySplit(resource("completion-stream-continuous.sse"), resource("completion-stream.sse"),
                ChunkUsageSplice.Mode.NULL, COMPLETION_USAGE);
    }

    @Test
    void shouldKeepTheLastRunningUsageOfAStreamThatEndsEarly() {
        String all = text(resource("chat-stream-continuous.sse"));
        byte[] firstTwoChunks = bytes(all.substring(0, all.indexOf("data:", all.indexOf("data:") + 1)
                + all.substring(all.indexOf("data:", all.indexOf("data:") + 1)).indexOf("\n\n") + 2));
        ResponseFacts facts = new ResponseFacts();
        SseResponseTap tap = new SseResponseTap(facts, true, ChunkUsageSplice.Mode.REMOVE);

        byte[] out = Pieces.splitAt(tap::transform, firstTwoChunks, firstTwoChunks.length / 2, true);

        assertThat(text(out)).doesNotContain("usage");
        assertThat(facts.usage()).isEqualTo(new ResponseFacts.Usage(21L, 1L, 22L, null, null));
        assertThat(facts.finalUsageSeen()).isFalse();
    }

    @Test
    void shouldAddUpTheRunningUsageOfEveryChoice() {
        String chunks = "data: {\"choices\":[{\"index\":0,\"delta\":{}}],\"usage\":{\"prompt_tokens\":9,\"total_tokens\":12,"
                + "\"completion_tokens\":3}}\n\n"
                + "data: {\"choices\":[{\"index\":1,\"delta\":{}}],\"usage\":{\"prompt_tokens\":9,\"total_tokens\":11,"
                + "\"completion_tokens\":2}}\n\n"
                + "data: {\"choices\":[{\"index\":0,\"delta\":{}}],\"usage\":{\"prompt_tokens\":9,\"total_tokens\":13,"
                + "\"completion_tokens\":4}}\n\n";
        ResponseFacts facts = new ResponseFacts();

        byte[] out = Pieces.splitAt(new SseResponseTap(facts, true, ChunkUsageSplice.Mode.REMOVE)::transform,
                bytes(chunks), 50, true);

        assertThat(text(out)).doesNotContain("usage");
        assertThat(facts.runningUsage()).isEqualTo(new ResponseFacts.Usage(9L, 6L, 15L, null, null));
        assertThat(facts.usage().completionTokens()).isEqualTo(4L);
    }

    @Test
    void shouldKeepTwoStreamsApartThatOneThreadTapsInTurn() {
        // both read their direct buffers through the same thread's scratch array, a piece of one between two of
        // the other
        byte[] chat = resource("chat-stream-continuous.sse");
        byte[] completion = resource("completion-stream-continuous.sse");
        ResponseFacts chatFacts = new ResponseFacts();
        ResponseFacts completionFacts = new ResponseFacts();
        SseResponseTap chatTap = new SseResponseTap(chatFacts, true, ChunkUsageSplice.Mode.REMOVE);
        SseResponseTap completionTap = new SseResponseTap(completionFacts, true, ChunkUsageSplice.Mode.NULL);
        ByteArrayOutputStream chatOut = new ByteArrayOutputStream();
        ByteArrayOutputStream completionOut = new ByteArrayOutputStream();

        int piece = 37;
        for (int at = 0; at < Math.max(chat.length, completion.length); at += piece) {
            feedDirect(chatTap, chat, at, piece, chatOut);
            feedDirect(completionTap, completion, at, piece, completionOut);
        }

        assertThat(chatOut.toString(StandardCharsets.UTF_8)).isEqualTo(text(resource("chat-stream.sse")));
        assertThat(completionOut.toString(StandardCharsets.UTF_8))
                .isEqualTo(text(resource("completion-stream.sse")));
        assertThat(chatFacts.usage()).isEqualTo(CHAT_USAGE);
        assertThat(completionFacts.usage()).isEqualTo(COMPLETION_USAGE);
    }

    private static void feedDirect(SseResponseTap tap, byte[] all, int at, int piece, ByteArrayOutputStream out) {
        if (at >= all.length) {
            return;
        }
        int end = Math.min(all.length, at + piece);
        ByteBuffer buffer = ByteBuffer.allocateDirect(end - at);
        buffer.put(all, at, end - at).flip();
        List<ByteBuffer> output = new ArrayList<>();
        tap.transform(buffer, end == all.length, output);
        for (ByteBuffer b : output) {
            byte[] copy = new byte[b.remaining()];
            b.duplicate().get(copy);
            out.writeBytes(copy);
        }
    }

    @Test
    void shouldNotTakeMemberNamesInsideContentForATerminalChunkOrAWholeResponse() {
        // given a current chat content chunk whose text quotes a finish reason and a service tier
        String usage = ",\"usage\":{\"prompt_tokens\":1,\"total_tokens\":2,\"completion_tokens\":1}";
        String chunk = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                + "\"delta\":{\"content\":\"{\\\"finish_reason\\\":\\\"stop\\\",\\\"service_tier\\\":1}\"},"
                + "\"logprobs\":null,\"finish_reason\":null,\"token_ids\":null}]" + usage + "}\n\n";
        SseResponseTap tap = new SseResponseTap(new ResponseFacts(), StreamStrip.of(StreamUsagePolicy.CHAT,
                ClientStreamOptions.NONE, VllmGeneration.AUTO, false));
        List<ByteBuffer> out = new ArrayList<>();

        // when it arrives
        tap.transform(ByteBuffer.wrap(bytes(chunk)), false, out);

        // then it goes on at once without its running usage: not held as a terminal chunk, not passed whole as a
        // response
        StringBuilder received = new StringBuilder();
        out.forEach(buffer -> received.append(StandardCharsets.UTF_8.decode(buffer.duplicate())));
        assertThat(received.toString()).isEqualTo(chunk.replace(usage, ""));
    }

    @Test
    void shouldHoldATerminalChunkOfCurrentVllmForTheFingerprintAndLetItGoWithoutWhenNoneComes() {
        // given a current chat stream whose client asked for no usage: the terminal chunk waits for the fingerprint
        String terminal = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                + "\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"stop\",\"stop_reason\":null,"
                + "\"token_ids\":null}],\"usage\":{\"prompt_tokens\":1,\"total_tokens\":2,\"completion_tokens\":1}}\n\n";
        SseResponseTap tap = new SseResponseTap(new ResponseFacts(), StreamStrip.of(StreamUsagePolicy.CHAT,
                ClientStreamOptions.NONE, VllmGeneration.AUTO, false));
        List<ByteBuffer> out = new ArrayList<>();

        // when the stream is cut after it
        tap.transform(ByteBuffer.wrap(bytes(terminal)), false, out);
        List<ByteBuffer> held = List.copyOf(out);
        tap.transform(ByteBuffer.allocate(0), true, out);

        // then it went nowhere until the end, and then without its running usage and without a fingerprint
        assertThat(held).isEmpty();
        StringBuilder received = new StringBuilder();
        out.forEach(buffer -> received.append(StandardCharsets.UTF_8.decode(buffer.duplicate())));
        assertThat(received.toString()).isEqualTo(terminal.replace(
                ",\"usage\":{\"prompt_tokens\":1,\"total_tokens\":2,\"completion_tokens\":1}", ""));
    }
}
