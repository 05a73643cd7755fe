package dev.tokentap.proxy.http;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.eclipse.jetty.ee10.proxy.AsyncMiddleManServlet.ContentTransformer;

/**
 * A request body held in the proxy until the client has sent all of it, then forwarded in one piece. Jetty's
 * middle-man servlet opens the upstream request only when the first transformed bytes exist, so while the body is
 * held the upstream sees nothing: a body that turns out too large, or a client that stalls, is refused without vLLM
 * ever seeing a request. The next transformer still sees each piece as it arrives, so what it reads (the model) is
 * known even of a body that never completes; only its output is held. Memory is bounded by the body limit, which
 * the reader enforces.
 */
final class HeldBody implements ContentTransformer {

    /** Room for the {@code stream_options} the request rewriter may add, so the array need not grow for it. */
    private static final int REWRITE_ROOM = 128;

    private final ContentTransformer next;
    private final List<ByteBuffer> pieces = new ArrayList<>();
    private byte[] held;
    private int length;

    /** @param expectedLength the declared length, or -1 when the body is chunked */
    HeldBody(ContentTransformer next, long expectedLength) {
        this.next = next;
        // a declared length is the body's size give or take what the rewriter adds; a chunked body starts small
        long initial = expectedLength >= 0 ? expectedLength + REWRITE_ROOM : 1024;
        this.held = new byte[(int) Math.min(initial, 64 * 1024)];
    }

    @Override
    public void transform(ByteBuffer input, boolean finished, List<ByteBuffer> output) throws IOException {
        next.transform(input, finished, pieces);
        for (ByteBuffer piece : pieces) {
            // pieces may be slices of the reader's buffer, which it reuses once this returns: copy
            int n = piece.remaining();
            if (length + n > held.length) {
                held = Arrays.copyOf(held, Math.max(length + n, held.length * 2));
            }
            piece.get(held, length, n);
            length += n;
        }
        pieces.clear();
        if (finished) {
            output.add(ByteBuffer.wrap(held, 0, length));
        }
    }

    /** Bytes held so far. */
    int length() {
        return length;
    }
}
