package dev.tokentap.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class HeldBodyTest {

    private static final ContentTransformer IDENTITY = (input, finished, output) -> output.add(input);

    private static byte[] joined(List<ByteBuffer> output) {
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        for (ByteBuffer buffer : output) {
            byte[] bytes = new byte[buffer.remaining()];
            buffer.duplicate().get(bytes);
            joined.writeBytes(bytes);
        }
        return joined.toByteArray();
    }

    private static byte[] pattern(int length) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) ('a' + i % 26);
        }
        return bytes;
    }

    @Test
    void shouldGiveNothingUntilTheBodyEndsThenAllOfIt() throws Exception {
        List<String> seen = new ArrayList<>();
        HeldBody held = new HeldBody((input, finished, output) -> {
            seen.add(StandardCharsets.UTF_8.decode(input.duplicate()).toString());
            output.add(input);
        }, -1, new RequestMemoryBudget(1 << 20).share());
        List<ByteBuffer> output = new ArrayList<>();
        byte[] readerBuffer = new byte[5];

        // given a reader that reuses its buffer for every piece, as Jetty's does
        for (String piece : List.of("{\"mod", "el\":\"", "m\"}")) {
            Arrays.fill(readerBuffer, (byte) 0);
            byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
            System.arraycopy(bytes, 0, readerBuffer, 0, bytes.length);
            held.transform(ByteBuffer.wrap(readerBuffer, 0, bytes.length), false, output);

            // then the next transformer reads each piece as it comes, and nothing goes out yet
            assertThat(output).isEmpty();
        }
        held.transform(ByteBuffer.allocate(0), true, output);

        assertThat(seen).containsExactly("{\"mod", "el\":\"", "m\"}", "");
        assertThat(new String(joined(output), StandardCharsets.UTF_8)).isEqualTo("{\"model\":\"m\"}");
    }

    @Test
    void shouldForwardALargeBodyInChunksNoneLargerThanTheMaximum() throws Exception {
        byte[] body = pattern(1_000_003);
        for (long declared : new long[] {-1, body.length}) {
            RequestMemoryBudget budget = new RequestMemoryBudget(2 << 20);
            HeldBody held = new HeldBody(IDENTITY, declared, budget.share());
            List<ByteBuffer> output = new ArrayList<>();

            for (int at = 0; at < body.length; at += 4096) {
                held.transform(ByteBuffer.wrap(body, at, Math.min(4096, body.length - at)), false, output);
            }
            held.transform(ByteBuffer.allocate(0), true, output);

            assertThat(joined(output)).as("declared %d", declared).isEqualTo(body);
            assertThat(output).allSatisfy(chunk -> assertThat(chunk.remaining()).isLessThanOrEqualTo(HeldBody.MAX_CHUNK));
            // what the chunks take is accounted: the body, and no more than a chunk's slack or the rewrite room
            assertThat(budget.held()).isBetween((long) body.length, (long) body.length + HeldBody.MAX_CHUNK);
        }
    }

    @Test
    void shouldReadABodyPastTheBudgetToItsEndThenRefuseItHavingGivenItsShareBack() throws Exception {
        RequestMemoryBudget budget = new RequestMemoryBudget(200 * 1024);
        RequestMemoryBudget.Share first = budget.share();
        List<String> read = new ArrayList<>();
        HeldBody one = new HeldBody(IDENTITY, -1, first);
        HeldBody other = new HeldBody((input, finished, output) -> {
            read.add(input.remaining() + (finished ? " last" : ""));
            output.add(input);
        }, -1, budget.share());
        List<ByteBuffer> output = new ArrayList<>();

        // given one body holding most of the budget
        one.transform(ByteBuffer.wrap(pattern(150 * 1024)), false, output);
        long heldByTheFirst = budget.held();

        // when another grows past what is left, it takes nothing more and gives back what it had
        other.transform(ByteBuffer.wrap(pattern(40 * 1024)), false, output);
        other.transform(ByteBuffer.wrap(pattern(100 * 1024)), false, output);
        assertThat(budget.held()).isEqualTo(heldByTheFirst);

        // and is still read to its end, which refuses it
        other.transform(ByteBuffer.wrap(pattern(100 * 1024)), false, output);
        assertThatThrownBy(() -> other.transform(ByteBuffer.allocate(0), true, output))
                .isInstanceOf(RequestMemoryBudget.Exhausted.class);
        assertThat(read).containsExactly("40960", "102400", "102400", "0 last");
        assertThat(output).isEmpty();

        // and once the first has been sent and released, the budget is whole again
        first.release();
        assertThat(budget.held()).isZero();
        assertThat(budget.share().reserve(200 * 1024)).isTrue();
        assertThat(budget.share().reserve(1)).isFalse();
    }

    @Test
    void shouldDropAllOfADeclaredBodyThatCouldNotReserveItsLength() throws Exception {
        RequestMemoryBudget budget = new RequestMemoryBudget(1000);
        RequestMemoryBudget.Share share = budget.share();
        assertThat(share.reserve(5000)).isFalse();
        HeldBody held = new HeldBody(IDENTITY, 4000, share);
        List<ByteBuffer> output = new ArrayList<>();

        held.transform(ByteBuffer.wrap(pattern(4000)), false, output);

        assertThat(budget.held()).isZero();
        assertThatThrownBy(() -> held.transform(ByteBuffer.allocate(0), true, output))
                .isInstanceOf(RequestMemoryBudget.Exhausted.class);
        assertThat(output).isEmpty();
    }

    @Test
    void shouldHoldADeclaredBodyInWhatItReservedUpFront() throws Exception {
        RequestMemoryBudget budget = new RequestMemoryBudget(100_000 + HeldBody.REWRITE_ROOM);
        RequestMemoryBudget.Share share = budget.share();
        assertThat(share.reserve(100_000 + HeldBody.REWRITE_ROOM)).isTrue();
        HeldBody held = new HeldBody((input, finished, output) -> {
            output.add(input);
            if (finished) {
                // what the rewriter adds to a streaming request
                output.add(ByteBuffer.wrap(",\"stream_options\":{}".getBytes(StandardCharsets.US_ASCII)));
            }
        }, 100_000, share);
        List<ByteBuffer> output = new ArrayList<>();

        held.transform(ByteBuffer.wrap(pattern(100_000)), true, output);

        assertThat(joined(output)).hasSize(100_000 + ",\"stream_options\":{}".length());
        assertThat(budget.held()).isEqualTo(100_000 + HeldBody.REWRITE_ROOM);
        share.release();
        share.release();
        assertThat(budget.held()).isZero();
    }
}
