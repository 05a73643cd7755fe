package dev.tokentap.proxy.http;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import org.eclipse.jetty.ee10.proxy.AsyncMiddleManServlet.ContentTransformer;

/**
 * A request body held in the proxy until the client has sent all of it, then given to the next transformer in one
 * piece. Jetty's middle-man servlet opens the upstream request only when the first transformed bytes exist, so
 * while the body is held the upstream sees nothing: a body that turns out too large, or a client that stalls, is
 * refused without vLLM ever seeing a request. Memory is bounded by the body limit, which the reader enforces.
 */
final class HeldBody implements ContentTransformer {

    private final ContentTransformer next;
    private byte[] held;
    private int length;

    /** @param expectedLength the declared length, or -1 when the body is chunked */
    HeldBody(ContentTransformer next, long expectedLength) {
        this.next = next;
        this.held = new byte[(int) Math.min(Math.max(expectedLength, 1024), 64 * 1024)];
    }

    @Override
    public void transform(ByteBuffer input, boolean finished, List<ByteBuffer> output) throws IOException {
        int n = input.remaining();
        if (n > 0) {
            // the reader reuses its buffer once this returns: copy
            if (length + n > held.length) {
                held = Arrays.copyOf(held, Math.max(length + n, held.length * 2));
            }
            input.get(held, length, n);
            length += n;
        }
        if (finished) {
            next.transform(ByteBuffer.wrap(held, 0, length), true, output);
        }
    }

    /** Bytes held so far. */
    int length() {
        return length;
    }
}
