package dev.tokentap.proxy.usage;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Searches a run of bytes for one byte value eight bytes at a time: the stream tap's scans spend most of their time
 * looking for the next line end or quote across runs of text, where a per-byte loop does a compare and a branch for
 * every byte. Pure and allocation-free.
 */
final class ByteScan {

    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101010101010101L;
    private static final long HIGHS = 0x8080808080808080L;

    private ByteScan() {
    }

    /** The index of the first {@code target} in {@code bytes[from, to)}, or -1. */
    static int indexOf(byte[] bytes, int from, int to, byte target) {
        int i = from;
        long pattern = (target & 0xFFL) * ONES;
        for (; i + Long.BYTES <= to; i += Long.BYTES) {
            // a byte equal to the target becomes zero; the classic test sets the high bit of the first zero byte
            // (and maybe of bytes after it, which the lowest set bit ignores)
            long word = (long) LONGS.get(bytes, i) ^ pattern;
            long found = (word - ONES) & ~word & HIGHS;
            if (found != 0) {
                return i + (Long.numberOfTrailingZeros(found) >>> 3);
            }
        }
        for (; i < to; i++) {
            if (bytes[i] == target) {
                return i;
            }
        }
        return -1;
    }

    /** The index of the first occurrence of {@code what} in {@code bytes[from, to)}, or -1. */
    static int indexOf(byte[] bytes, int from, int to, byte[] what) {
        int last = to - what.length;
        int i = from;
        while (i <= last) {
            i = indexOf(bytes, i, last + 1, what[0]);
            if (i < 0) {
                return -1;
            }
            if (startsWith(bytes, i, what)) {
                return i;
            }
            i++;
        }
        return -1;
    }

    /** Whether {@code bytes} holds {@code what} at {@code at} (the caller checks there is room). */
    static boolean startsWith(byte[] bytes, int at, byte[] what) {
        for (int j = 1; j < what.length; j++) {
            if (bytes[at + j] != what[j]) {
                return false;
            }
        }
        return bytes[at] == what[0];
    }
}
