package dev.tokentap.proxy.usage;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Feeds bytes to a transformer in pieces and collects what comes out. */
final class Pieces {

    interface Transformer {
        void transform(ByteBuffer input, boolean finished, List<ByteBuffer> output);
    }

    private Pieces() {
    }

    static byte[] resource(String name) {
        try (InputStream in = Pieces.class.getResourceAsStream("/vllm/" + name)) {
            if (in == null) {
                throw new IllegalArgumentException("no resource " + name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String text(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** Feeds {@code input} split at {@code split}; direct buffers when {@code direct}, as Jetty's client uses. */
    static byte[] splitAt(Transformer transformer, byte[] input, int split, boolean direct) {
        return feed(transformer, List.of(slice(input, 0, split), slice(input, split, input.length)), direct);
    }

    /** Feeds {@code input} one byte at a time. */
    static byte[] byteByByte(Transformer transformer, byte[] input) {
        List<byte[]> pieces = new ArrayList<>();
        for (int i = 0; i < input.length; i++) {
            pieces.add(slice(input, i, i + 1));
        }
        return feed(transformer, pieces, false);
    }

    static byte[] feed(Transformer transformer, List<byte[]> pieces, boolean direct) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < pieces.size(); i++) {
            byte[] piece = pieces.get(i);
            ByteBuffer buffer;
            if (direct) {
                buffer = ByteBuffer.allocateDirect(piece.length);
                buffer.put(piece).flip();
            } else {
                // an offset view, as a pooled buffer would be
                byte[] padded = new byte[piece.length + 7];
                System.arraycopy(piece, 0, padded, 3, piece.length);
                buffer = ByteBuffer.wrap(padded, 3, piece.length).slice();
            }
            List<ByteBuffer> output = new ArrayList<>();
            transformer.transform(buffer, i == pieces.size() - 1, output);
            for (ByteBuffer b : output) {
                byte[] copy = new byte[b.remaining()];
                b.duplicate().get(copy);
                out.writeBytes(copy);
            }
            // the caller reuses its buffer once the call returns: anything kept must have been copied
            if (!direct) {
                java.util.Arrays.fill(buffer.array(), (byte) '#');
            }
        }
        return out.toByteArray();
    }

    static byte[] slice(byte[] bytes, int from, int to) {
        byte[] out = new byte[to - from];
        System.arraycopy(bytes, from, out, 0, to - from);
        return out;
    }
}
