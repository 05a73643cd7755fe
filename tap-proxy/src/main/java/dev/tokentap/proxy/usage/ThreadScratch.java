package dev.tokentap.proxy.usage;

import java.nio.ByteBuffer;

/**
 * A buffer per thread that the taps copy a direct buffer's bytes into, to read them as an array. One per stream
 * would be 8 KiB for each stream in flight, kept long enough to reach the old generation; the threads that run the
 * taps are few. What it holds is valid until the same thread asks again, so nothing may keep a reference to it
 * past the call that asked.
 */
final class ThreadScratch {

    private static final int INITIAL = 8 * 1024;
    /** Larger pieces get an array of their own, so that one big read does not stay on a thread for good. */
    private static final int KEPT = 64 * 1024;
    private static final ThreadLocal<byte[]> BUFFER = ThreadLocal.withInitial(() -> new byte[INITIAL]);

    private ThreadScratch() {
    }

    /** The {@code input}'s remaining bytes, from index 0 of the array returned; {@code input} is not moved. */
    static byte[] copyOf(ByteBuffer input) {
        int length = input.remaining();
        byte[] buffer = BUFFER.get();
        if (buffer.length < length) {
            buffer = new byte[length];
            if (length <= KEPT) {
                BUFFER.set(buffer);
            }
        }
        input.duplicate().get(buffer, 0, length);
        return buffer;
    }
}
