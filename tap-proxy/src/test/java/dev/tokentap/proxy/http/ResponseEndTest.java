package dev.tokentap.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.Test;

class ResponseEndTest {

    /** Writes what it is given the way the client writer does: each queued write through ResponseEnd.write. */
    private static final class Client implements ResponseEnd.Writer {
        final ResponseEnd end;
        final StringBuilder received = new StringBuilder();
        final List<Callback> queued = new ArrayList<>();
        final List<ByteBuffer> queue = new ArrayList<>();

        Client(ResponseEnd end) {
            this.end = end;
            end.attach(this);
        }

        /** What the writer does with one piece of the body. */
        void write(String piece) {
            write(ByteBuffer.wrap(piece.getBytes(StandardCharsets.UTF_8)));
        }

        private void write(ByteBuffer content) {
            ByteBuffer out = end.write(content);
            if (out != null) {
                received.append(StandardCharsets.UTF_8.decode(out));
            }
        }

        @Override
        public void pass(ByteBuffer content, Callback callback) {
            queue.add(content);
            queued.add(callback);
        }

        @Override
        public void resume() {
            while (!queue.isEmpty()) {
                write(queue.remove(0));
                queued.remove(0).succeeded();
            }
        }
    }

    @Test
    void shouldPassEverythingOnWhileNotHeld() {
        ResponseEnd end = new ResponseEnd();
        Client client = new Client(end);

        client.write("data: 1\n\n");
        client.write("data: 2\n\n");

        assertThat(client.received).hasToString("data: 1\n\ndata: 2\n\n");
    }

    @Test
    void shouldKeepTheEndUntilReleasedThenWriteItInOrderAndOnlyThenComplete() {
        // given
        ResponseEnd end = new ResponseEnd();
        Client client = new Client(end);
        AtomicInteger completed = new AtomicInteger();
        client.write("data: 1\n\n");

        // when the end is held, written, and the response would complete
        end.hold();
        client.write("data: usage\n\n");
        client.write("data: [DONE]\n\n");
        end.afterRelease(completed::incrementAndGet);

        // then nothing of it reached the client, and it has not completed
        assertThat(client.received).hasToString("data: 1\n\n");
        assertThat(completed).hasValue(0);

        // when released
        end.release();

        // then the end follows, in order, and the response completes after it
        assertThat(client.received).hasToString("data: 1\n\ndata: usage\n\ndata: [DONE]\n\n");
        assertThat(completed).hasValue(1);
    }

    @Test
    void shouldWriteWhatIsHeldBeforeAPieceStillQueuedWhenReleased() {
        // given a held piece, and another one the writer has not reached yet when the release comes
        ResponseEnd end = new ResponseEnd();
        Client client = new Client(end);
        end.hold();
        client.write("held ");
        client.pass(ByteBuffer.wrap("late".getBytes(StandardCharsets.UTF_8)), Callback.NOOP);

        end.release();

        // then the held piece is not overtaken
        assertThat(client.received).hasToString("held late");
    }

    @Test
    void shouldCompleteAtOnceWhenReleasedWithNothingHeld() {
        ResponseEnd end = new ResponseEnd();
        AtomicInteger completed = new AtomicInteger();
        end.afterRelease(completed::incrementAndGet);

        end.release();

        assertThat(completed).hasValue(1);
        end.afterRelease(completed::incrementAndGet);
        assertThat(completed).hasValue(2);
    }

    @Test
    void shouldLetAnOversizedEndThroughRatherThanGrowAndHoldWhatFollows() {
        ResponseEnd end = new ResponseEnd();
        Client client = new Client(end);
        end.hold();

        String big = "x".repeat(ResponseEnd.MAX_HELD_BYTES);
        client.write(big);
        client.write("y");
        client.write("z");

        assertThat(client.received).hasToString(big + "y");
        end.release();
        assertThat(client.received).hasToString(big + "yz");
    }

    @Test
    void shouldCompleteWhenTheClientIsGoneWithoutWritingWhatWasHeld() {
        ResponseEnd end = new ResponseEnd();
        Client client = new Client(end);
        AtomicInteger completed = new AtomicInteger();
        end.hold();
        client.write("never read");
        end.afterRelease(completed::incrementAndGet);

        end.writerFailed();
        assertThat(completed).hasValue(0);
        end.release();

        assertThat(completed).hasValue(1);
        assertThat(client.queue).isEmpty();
    }
}
