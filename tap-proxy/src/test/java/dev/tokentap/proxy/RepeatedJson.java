package dev.tokentap.proxy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A large JSON document made on the fly: a head, one unit repeated, a tail. Tests send and serve hundreds of MiB of
 * it without holding more than one unit in memory. Where the unit holds {@link #NUMBER} ({@code ########}), each
 * repetition has its own number there, in eight hex digits: member names that are all distinct, for instance.
 *
 * @param head  the bytes before the repeated part
 * @param unit  the repeated part
 * @param count how many times the unit is repeated
 * @param tail  the bytes after it
 */
record RepeatedJson(byte[] head, byte[] unit, long count, byte[] tail) {

    /** Stands in a unit for the number of the repetition. */
    static final String NUMBER = "########";
    private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    /** Repeats {@code unit} as often as fits in about {@code size} bytes, between {@code head} and {@code tail}. */
    static RepeatedJson ofSize(String head, String unit, String tail, long size) {
        byte[] h = head.getBytes(StandardCharsets.UTF_8);
        byte[] u = unit.getBytes(StandardCharsets.UTF_8);
        byte[] t = tail.getBytes(StandardCharsets.UTF_8);
        return new RepeatedJson(h, u, Math.max(0, (size - h.length - t.length) / u.length), t);
    }

    long length() {
        return head.length + unit.length * count + tail.length;
    }

    /** The document, read in pieces of whatever size the reader asks. */
    InputStream stream() {
        int numberAt = new String(unit, StandardCharsets.ISO_8859_1).indexOf(NUMBER);
        byte[] numbered = unit.clone();
        return new InputStream() {
            private long position;
            private long unitNumber = -1;

            @Override
            public int read() {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] buffer, int offset, int length) {
                if (position >= length()) {
                    return -1;
                }
                int n = 0;
                while (n < length && position < length()) {
                    byte[] source;
                    int from;
                    long bodyEnd = head.length + unit.length * count;
                    if (position < head.length) {
                        source = head;
                        from = (int) position;
                    } else if (position < bodyEnd) {
                        source = numberAt < 0 ? unit : number((position - head.length) / unit.length);
                        from = (int) ((position - head.length) % unit.length);
                    } else {
                        source = tail;
                        from = (int) (position - bodyEnd);
                    }
                    int take = Math.min(length - n, source.length - from);
                    System.arraycopy(source, from, buffer, offset + n, take);
                    n += take;
                    position += take;
                }
                return n;
            }

            private byte[] number(long n) {
                if (n != unitNumber) {
                    unitNumber = n;
                    for (int i = 0; i < NUMBER.length(); i++) {
                        numbered[numberAt + NUMBER.length() - 1 - i] = HEX[(int) (n >>> (4 * i)) & 0xf];
                    }
                }
                return numbered;
            }
        };
    }

    /** Writes the document to {@code out} in pieces of about 64 KiB. */
    void writeTo(OutputStream out) throws IOException {
        byte[] buffer = new byte[64 * 1024];
        try (InputStream in = stream()) {
            int n;
            while ((n = in.read(buffer, 0, buffer.length)) > 0) {
                out.write(buffer, 0, n);
            }
        }
    }
}
