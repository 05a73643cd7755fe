package dev.tokentap.proxy.http;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A request body held in the proxy until the client has sent all of it, then forwarded in one piece. The upstream
 * request is opened only once the whole body is here (see {@link MeteringProxyHandler}), so while the body is
 * held the upstream sees nothing: a body that turns out too large, or a client that stalls, is refused without vLLM
 * ever seeing a request. The next transformer still sees each piece as it arrives, so what it reads (the model) is
 * known even of a body that never completes; only its output is held.
 *
 * <p>The body is kept in chunks of at most {@link #MAX_CHUNK} bytes, each accounted in the request's
 * {@link RequestMemoryBudget.Share} before it is allocated, and forwarded as those chunks: no array of the whole body
 * is ever needed, no copy to grow one, and each write upstream is small (a heap buffer written to a socket is first
 * copied into a direct buffer of its size, which a 30 MiB body would take from the 64 MiB of direct memory the image
 * allows). Once handed on, the chunks are no longer referenced here.
 *
 * <p>A body the budget has no room for is refused, but only once it has been read to its end: its chunks are
 * dropped and its share given back at once, the rest is read and dropped as it comes (the next transformer still
 * reads it, so the event knows the model), and the end of the body fails with
 * {@link RequestMemoryBudget.Exhausted}, which is answered 503. A client still sending its body would otherwise get
 * a reset connection rather than the answer.
 */
final class HeldBody implements ContentTransformer {

    /** Room for the {@code stream_options} the request rewriter may add, so a declared length still fits. */
    static final int REWRITE_ROOM = 128;
    /** Largest chunk: the size of Jetty's own network buffers, as many bytes as one write usually moves. */
    static final int MAX_CHUNK = 64 * 1024;
    /** First chunk of a body of unknown length; the chunks double up to {@link #MAX_CHUNK}. */
    private static final int FIRST_CHUNK = 1024;

    private final ContentTransformer next;
    private final RequestMemoryBudget.Share share;
    /** The declared length plus the rewrite room, or -1 when the body is chunked. */
    private final long expected;
    private final List<ByteBuffer> pieces = new ArrayList<>();
    private List<byte[]> chunks = new ArrayList<>();
    private byte[] current;
    private int used;
    private long length;
    /** The budget had no room: the body is read to its end and dropped. */
    private boolean discarding;

    /**
     * @param expectedLength the declared length, or -1 when the body is chunked
     * @param share          this request's share of the budget, which every chunk is accounted in
     */
    HeldBody(ContentTransformer next, long expectedLength, RequestMemoryBudget.Share share) {
        this.next = next;
        this.share = share;
        this.expected = expectedLength >= 0 ? expectedLength + REWRITE_ROOM : -1;
        this.discarding = share.refused();
    }

    @Override
    public void transform(ByteBuffer input, boolean finished, List<ByteBuffer> output) throws IOException {
        if (chunks == null) {
            throw new IllegalStateException("the body was already handed on");
        }
        try {
            next.transform(input, finished, pieces);
            for (ByteBuffer piece : pieces) {
                if (!discarding) {
                    // pieces may be slices of the reader's buffer, which it reuses once this returns: copy
                    hold(piece);
                }
            }
        } finally {
            pieces.clear();
        }
        if (finished && discarding) {
            throw share.refusal();
        }
        if (finished) {
            for (byte[] chunk : chunks) {
                output.add(ByteBuffer.wrap(chunk, 0, chunk == current ? used : chunk.length));
            }
            chunks = null;
            current = null;
        }
    }

    private void hold(ByteBuffer piece) {
        while (piece.hasRemaining()) {
            if (current == null || used == current.length) {
                int size = nextChunkSize();
                try {
                    share.use(size);
                } catch (RequestMemoryBudget.Exhausted e) {
                    // the share is given back; what was held goes with it
                    discarding = true;
                    chunks.clear();
                    current = null;
                    return;
                }
                current = new byte[size];
                used = 0;
                chunks.add(current);
            }
            int n = Math.min(piece.remaining(), current.length - used);
            piece.get(current, used, n);
            used += n;
            length += n;
        }
    }

    private int nextChunkSize() {
        if (expected >= 0 && expected > length) {
            // a declared body gets exactly what it declared (and the rewrite room), in full chunks
            return (int) Math.min(MAX_CHUNK, expected - length);
        }
        // unknown length, or more than declared (only the rewriter can add): double up, from small
        return current == null ? FIRST_CHUNK : Math.min(MAX_CHUNK, current.length * 2);
    }

    /** Bytes held so far. */
    long length() {
        return length;
    }
}
