package dev.tokentap.proxy.usage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;

/**
 * Reads the {@code model} form field of a {@code multipart/form-data} request (audio transcriptions and
 * translations) while every byte passes on untouched. Only the first {@link #SCAN_LIMIT} bytes are looked at:
 * OpenAI's clients send the form fields before the file, and the file itself is never buffered.
 *
 * <p>One instance per request; not thread-safe.
 */
public final class MultipartModelReader {

    /** Bytes of the body scanned for the field; the rest passes without a look. */
    static final int SCAN_LIMIT = 16 * 1024;
    private static final int MAX_MODEL_LENGTH = 256;
    private static final byte[] FIELD = "name=\"model\"".getBytes(StandardCharsets.US_ASCII);

    private final byte[] prefix = new byte[SCAN_LIMIT];
    private final byte[] delimiter;
    private int length;
    private volatile String model;

    private MultipartModelReader(String boundary) {
        this.delimiter = ("\r\n--" + boundary).getBytes(StandardCharsets.US_ASCII);
    }

    /** A reader for a request with this {@code Content-Type}, or null when it is not a multipart form. */
    public static MultipartModelReader forContentType(String contentType) {
        if (contentType == null || !contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
            return null;
        }
        for (String parameter : contentType.split(";")) {
            String p = parameter.strip();
            if (p.toLowerCase(Locale.ROOT).startsWith("boundary=")) {
                String boundary = p.substring("boundary=".length()).replace("\"", "");
                return boundary.isEmpty() ? null : new MultipartModelReader(boundary);
            }
        }
        return null;
    }

    /** The {@code model} field, once read; null if absent or not within the scanned prefix. */
    public String model() {
        return model;
    }

    /** Passes {@code input} on unchanged, looking at it while the prefix is not full. */
    public void transform(ByteBuffer input, boolean finished, List<ByteBuffer> output) {
        if (model == null && length < SCAN_LIMIT && input.hasRemaining()) {
            int n = Math.min(input.remaining(), SCAN_LIMIT - length);
            input.duplicate().get(prefix, length, n);
            length += n;
            model = find();
        }
        if (input.hasRemaining()) {
            output.add(input);
        }
    }

    private String find() {
        int field = indexOf(prefix, FIELD, 0, length);
        if (field < 0) {
            return null;
        }
        int valueStart = indexOf(prefix, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII), field, length);
        if (valueStart < 0) {
            return null;
        }
        valueStart += 4;
        int valueEnd = indexOf(prefix, delimiter, valueStart, length);
        if (valueEnd < 0 || valueEnd - valueStart > MAX_MODEL_LENGTH) {
            return null;
        }
        return new String(prefix, valueStart, valueEnd - valueStart, StandardCharsets.UTF_8);
    }

    private static int indexOf(byte[] haystack, byte[] needle, int from, int to) {
        outer:
        for (int i = from; i <= to - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
