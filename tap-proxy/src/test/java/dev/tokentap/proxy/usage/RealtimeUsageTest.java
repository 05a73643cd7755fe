package dev.tokentap.proxy.usage;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Server event shapes as vLLM's realtime connection writes them (speech_to_text/realtime at commit 52a31cce). */
class RealtimeUsageTest {

    private static final String CREATED = "{\"type\":\"session.created\",\"id\":\"sess-006e5e1f4c0d9a7b\","
            + "\"created\":1779868800}";
    private static final String DELTA = "{\"type\":\"transcription.delta\",\"delta\":\" Hello\"}";
    private static final String DONE = "{\"type\":\"transcription.done\",\"text\":\"%s\",\"usage\":{\"prompt_tokens\":%s,"
            + "\"total_tokens\":%s,\"completion_tokens\":%s,\"prompt_tokens_details\":null}}";

    private static String done(String text, Object prompt, Object total, Object completion) {
        return DONE.formatted(text, prompt, total, completion);
    }

    @Test
    void shouldSumTheUsageOfEveryFinishedGenerationWhateverTheFragmentation() {
        String[] server = {CREATED, DELTA, done(" Hello.", 40, 47, 7), DELTA, done(" Bye.", 20, 22, 2),
            "{\"type\":\"error\",\"error\":\"Unknown event type: response.create\",\"code\":\"unknown_event\"}"};
        for (int pieces = 1; pieces <= 7; pieces++) {
            // given
            RealtimeUsage usage = new RealtimeUsage();

            // when
            for (String message : server) {
                feedServer(usage, message, pieces);
            }

            // then
            assertThat(usage.usage()).as("in %d pieces", pieces)
                    .isEqualTo(new ResponseFacts.Usage(60L, 9L, 69L, null, null, true, null));
            assertThat(usage.sessionId()).isEqualTo("sess-006e5e1f4c0d9a7b");
            assertThat(usage.generationsDone()).isEqualTo(2);
            assertThat(usage.generationCut()).isFalse();
            assertThat(usage.errorSeen()).isTrue();
        }
    }

    @Test
    void shouldReadTheUsageAfterATranscriptFarLongerThanAnyStringTheWalkerKeeps() {
        RealtimeUsage usage = new RealtimeUsage();
        String transcript = " word".repeat(200_000);

        feedServer(usage, done(transcript, 12_000, 212_000, 200_000), 13);

        assertThat(usage.usage().totalTokens()).isEqualTo(212_000L);
    }

    @Test
    void shouldSayAGenerationWasCutWhenDeltasCameAfterTheLastDone() {
        RealtimeUsage usage = new RealtimeUsage();
        feedServer(usage, done("a", 4, 5, 1), 1);
        feedServer(usage, DELTA, 1);

        assertThat(usage.generationCut()).isTrue();
        assertThat(usage.usage().totalTokens()).isEqualTo(5L);
    }

    @Test
    void shouldHaveNoUsageWhenNoGenerationFinished() {
        RealtimeUsage usage = new RealtimeUsage();
        feedServer(usage, CREATED, 1);
        feedServer(usage, DELTA, 1);

        assertThat(usage.usage()).isNull();
        assertThat(usage.generationCut()).isTrue();
    }

    @Test
    void shouldFlagTheSessionInvalidWhenADoneCarriesSomethingThatIsNoCount() {
        RealtimeUsage usage = new RealtimeUsage();
        feedServer(usage, done("a", 4, 5, 1), 1);
        feedServer(usage, done("b", -4, 5, 1.5), 1);

        assertThat(usage.usage()).isEqualTo(ResponseFacts.Usage.INVALID);
    }

    @Test
    void shouldReadTheNextMessageAfterOneThatIsNotJson() {
        RealtimeUsage usage = new RealtimeUsage();
        feedServer(usage, "not json {", 2);
        feedServer(usage, done("a", 4, 5, 1), 2);

        assertThat(usage.usage().totalTokens()).isEqualTo(5L);
    }

    @Test
    void shouldTakeTheModelOfTheClientsLastSessionUpdateAndIgnoreItsAudio() {
        RealtimeUsage usage = new RealtimeUsage();
        feedClient(usage, "{\"type\": \"session.update\", \"model\": \"openai/whisper-large-v3-turbo\"}", 3);
        feedClient(usage, "{\"type\": \"input_audio_buffer.append\", \"audio\": \"" + "A".repeat(300_000)
                + "\", \"model\": \"not-a-session-update\"}", 9);
        feedClient(usage, "{\"type\": \"input_audio_buffer.commit\", \"final\": true}", 1);

        assertThat(usage.model()).isEqualTo("openai/whisper-large-v3-turbo");

        feedClient(usage, "{\"model\": \"other-model\", \"type\": \"session.update\"}", 4);
        assertThat(usage.model()).isEqualTo("other-model");
    }

    /** Feeds {@code message} as {@code pieces} frames, the last one ending it; some as direct buffers. */
    private static void feedServer(RealtimeUsage usage, String message, int pieces) {
        feed(message, pieces, (buffer, last) -> usage.serverText(buffer, last));
    }

    private static void feedClient(RealtimeUsage usage, String message, int pieces) {
        feed(message, pieces, (buffer, last) -> usage.clientText(buffer, last));
    }

    private interface Sink {
        void accept(ByteBuffer buffer, boolean last);
    }

    private static void feed(String message, int pieces, Sink sink) {
        byte[] bytes = message.getBytes(StandardCharsets.UTF_8);
        int step = Math.max(1, bytes.length / pieces);
        int from = 0;
        for (int piece = 0; piece < pieces; piece++) {
            int to = piece == pieces - 1 ? bytes.length : Math.min(bytes.length, from + step);
            ByteBuffer buffer;
            if (piece % 2 == 0) {
                buffer = ByteBuffer.wrap(bytes, from, to - from);
            } else {
                buffer = ByteBuffer.allocateDirect(to - from);
                buffer.put(bytes, from, to - from).flip();
            }
            sink.accept(buffer, piece == pieces - 1);
            from = to;
        }
    }
}
