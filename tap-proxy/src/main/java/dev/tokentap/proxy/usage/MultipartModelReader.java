package dev.tokentap.proxy.usage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;

/**
 * Reads the form fields of a {@code multipart/form-data} request (audio transcriptions and translations) that say
 * what to meter: {@code model}, {@code stream}, {@code stream_include_usage}, {@code stream_continuous_usage_stats};
 * and makes a stream report its usage: when the form asks for a stream without {@code stream_include_usage}, it adds
 * {@code stream_include_usage=true} (and {@code stream_continuous_usage_stats=true}, for a stream that ends early)
 * as the last parts of the form, just before its closing delimiter. vLLM's form parser (Starlette) keeps the last
 * value of a repeated field, so the added parts win over the client's own {@code false}; the tap then removes from
 * the client's view the usage vLLM sent because of them ({@link SseResponseTap}).
 *
 * <p>The body streams through as it comes, never gathered: the reader looks for the form's delimiters in passing and
 * holds back only the few bytes at the end of a piece that may be the start of one (at most the delimiter's length
 * and two), so that the closing delimiter can be found whole before anything of it has gone on. Those held bytes
 * are always a prefix of the delimiter, and pass on as slices of it. A part's headers are read up to
 * {@link #MAX_HEADER_BYTES}, a field's value up to {@link #MAX_VALUE_LENGTH}; a file is only looked through.
 *
 * <p>One instance per request; not thread-safe (the proxy calls it from one read loop at a time).
 */
public final class MultipartModelReader {

    /** Bytes of a part's headers read for its name; a part with longer headers is not one of the fields. */
    static final int MAX_HEADER_BYTES = 1024;
    /** Longest field value kept (a model name); a longer one is not read. */
    static final int MAX_VALUE_LENGTH = 256;
    private static final byte[] HEADERS_END = "\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private final String boundary;
    /** {@code \r\n--boundary--}: the delimiter, and the two dashes that make it the closing one. */
    private final byte[] closing;
    private final int delimiterLength;
    private final int[] failure;
    private final boolean continuousAllowed;

    /** Bytes of the delimiter matched so far; {@code delimiterLength} and more once it is whole. */
    private int matched;
    /** Global position of the next byte of the body not yet passed on. */
    private long emitted;
    /** Global position of the first byte of the current piece. */
    private long position;
    private boolean closed;

    private final byte[] headers = new byte[MAX_HEADER_BYTES];
    private int headerLength = -1;
    private String field;
    /** A value and the delimiter after it (at most 74 bytes: a boundary has at most 70 characters). */
    private final byte[] value = new byte[MAX_VALUE_LENGTH + 74];
    private int valueLength = -1;

    private volatile String model;
    private volatile boolean stream;
    private boolean includeUsage;
    private boolean continuousUsage;
    private volatile boolean injected;
    private volatile boolean injectedContinuous;

    private MultipartModelReader(String boundary, boolean continuousAllowed) {
        this.boundary = boundary;
        this.closing = ("\r\n--" + boundary + "--").getBytes(StandardCharsets.US_ASCII);
        this.delimiterLength = closing.length - 2;
        this.failure = failure(closing, delimiterLength);
        this.continuousAllowed = continuousAllowed;
        // the first delimiter of a body has no line break before it: as if one had just been read
        this.matched = 2;
    }

    /** A reader for a request with this {@code Content-Type} that asks for continuous usage too; null if no form. */
    public static MultipartModelReader forContentType(String contentType) {
        return forContentType(contentType, true);
    }

    /**
     * A reader for a request with this {@code Content-Type}, or null when it is not a multipart form.
     *
     * @param continuousUsage whether a stream the reader asks usage for also asks for continuous usage
     */
    public static MultipartModelReader forContentType(String contentType, boolean continuousUsage) {
        if (contentType == null || !contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
            return null;
        }
        for (String parameter : contentType.split(";")) {
            String p = parameter.strip();
            if (p.toLowerCase(Locale.ROOT).startsWith("boundary=")) {
                String boundary = p.substring("boundary=".length()).replace("\"", "");
                // RFC 2046: at most 70 characters
                return boundary.isEmpty() || boundary.length() > 70 ? null
                        : new MultipartModelReader(boundary, continuousUsage);
            }
        }
        return null;
    }

    /** The {@code model} field, once read; null if absent or too long. */
    public String model() {
        return model;
    }

    /** Whether the form asked for a stream ({@code stream} read as vLLM reads a boolean). */
    public boolean stream() {
        return stream;
    }

    /** Whether the reader added {@code stream_include_usage=true} to the form. */
    public boolean injected() {
        return injected;
    }

    /** Whether vLLM was thereby made to send a usage in every chunk too, which the client did not ask for. */
    public boolean injectedContinuousUsage() {
        return injectedContinuous;
    }

    /**
     * Passes {@code input} on to {@code output}, holding back only what may be the start of the closing delimiter,
     * and adding the usage fields in front of it when the form asks for a stream without them. Output buffers are
     * slices of the input or of constants.
     */
    public void transform(ByteBuffer input, boolean finished, List<ByteBuffer> output) {
        int length = input.remaining();
        if (closed) {
            if (length > 0) {
                output.add(input);
            }
            return;
        }
        byte[] bytes;
        int offset;
        if (input.hasArray()) {
            bytes = input.array();
            offset = input.arrayOffset() + input.position();
        } else {
            bytes = ThreadScratch.copyOf(input);
            offset = 0;
        }
        long start = position;
        long heldStart = start - Math.min(matched, closing.length);
        for (int i = 0; i < length && !closed; i++) {
            byte b = bytes[offset + i];
            step(b);
            if (matched == closing.length) {
                // the closing delimiter: anything to add goes in front of it
                long delimiterStart = start + i + 1 - closing.length;
                emit(input, start, heldStart, emitted, delimiterStart, output);
                byte[] addition = addition();
                if (addition != null) {
                    output.add(ByteBuffer.wrap(addition).asReadOnlyBuffer());
                }
                emit(input, start, heldStart, delimiterStart, start + length, output);
                closed = true;
            }
        }
        position = start + length;
        if (closed) {
            return;
        }
        long keep = finished ? 0 : Math.min(matched, closing.length);
        emit(input, start, heldStart, emitted, position - keep, output);
    }

    /** Passes on the body's bytes from global position {@code from} to {@code to}, held ones as delimiter slices. */
    private void emit(ByteBuffer input, long start, long heldStart, long from, long to, List<ByteBuffer> output) {
        from = Math.max(from, Math.max(emitted, 0));
        if (to <= from) {
            return;
        }
        if (from < start) {
            long heldEnd = Math.min(to, start);
            output.add(ByteBuffer.wrap(closing, (int) (from - heldStart), (int) (heldEnd - from)).asReadOnlyBuffer());
            from = heldEnd;
        }
        if (from < to) {
            ByteBuffer slice = input.duplicate();
            slice.position(input.position() + (int) (from - start));
            slice.limit(input.position() + (int) (to - start));
            output.add(slice);
        }
        emitted = to;
    }

    /** One byte through the delimiter matcher and the part reader. */
    private void step(byte b) {
        if (matched >= delimiterLength) {
            // after a whole delimiter: two dashes close the form, anything else begins a part
            if (b == '-') {
                matched++;
                return;
            }
            matched = 0;
            beginPart();
        }
        readPart(b);
        while (matched > 0 && closing[matched] != b) {
            matched = failure[matched - 1];
        }
        if (closing[matched] == b) {
            matched++;
        }
        if (matched == delimiterLength) {
            endPart();
        }
    }

    private void beginPart() {
        headerLength = 0;
        field = null;
        valueLength = -1;
    }

    private void readPart(byte b) {
        if (headerLength >= 0) {
            if (headerLength == headers.length) {
                // headers too long for a field of ours
                headerLength = -1;
                return;
            }
            headers[headerLength++] = b;
            if (headerLength >= HEADERS_END.length && endsWith(headers, headerLength, HEADERS_END)) {
                field = name(new String(headers, 0, headerLength, StandardCharsets.ISO_8859_1));
                headerLength = -1;
                valueLength = field == null ? -1 : 0;
            }
        } else if (valueLength >= 0) {
            if (valueLength == value.length) {
                // longer than any value of ours: not read
                valueLength = -1;
                field = null;
                return;
            }
            value[valueLength++] = b;
        }
    }

    /** A delimiter ended the part: its value is what came before the delimiter's bytes. */
    private void endPart() {
        if (field != null && valueLength >= delimiterLength) {
            // the delimiter's own bytes went into the value as they came: they are its last ones
            int length = valueLength - delimiterLength;
            if (length <= MAX_VALUE_LENGTH) {
                field(field, new String(value, 0, length, StandardCharsets.UTF_8));
            }
        }
        field = null;
        valueLength = -1;
        headerLength = -1;
    }

    private void field(String name, String text) {
        switch (name) {
            case "model" -> model = text;
            case "stream" -> stream = Boolean.TRUE.equals(laxBoolean(text));
            case "stream_include_usage" -> includeUsage = Boolean.TRUE.equals(laxBoolean(text));
            case "stream_continuous_usage_stats" -> continuousUsage = Boolean.TRUE.equals(laxBoolean(text));
            default -> {
                // not one of ours
            }
        }
    }

    /** The parts to add before the closing delimiter, or null when the form needs none. */
    private byte[] addition() {
        if (!stream || includeUsage) {
            // not a stream (the fields would make it a 400), or the client asked for the usage itself
            return null;
        }
        StringBuilder parts = new StringBuilder();
        parts.append(part("stream_include_usage"));
        if (continuousAllowed) {
            parts.append(part("stream_continuous_usage_stats"));
        }
        injected = true;
        // the client's own continuous_usage_stats takes effect once the usage is included
        injectedContinuous = continuousAllowed || continuousUsage;
        return parts.toString().getBytes(StandardCharsets.US_ASCII);
    }

    private String part(String name) {
        return "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\ntrue";
    }

    /** The {@code name} of a part's {@code Content-Disposition}, if it is one of the fields read; else null. */
    private static String name(String headers) {
        for (String line : headers.split("\r\n")) {
            if (!line.toLowerCase(Locale.ROOT).startsWith("content-disposition:")) {
                continue;
            }
            for (String parameter : line.substring(line.indexOf(':') + 1).split(";")) {
                String p = parameter.strip();
                if (p.toLowerCase(Locale.ROOT).startsWith("name=")) {
                    String name = p.substring("name=".length()).replace("\"", "");
                    return switch (name) {
                        case "model", "stream", "stream_include_usage", "stream_continuous_usage_stats" -> name;
                        default -> null;
                    };
                }
            }
        }
        return null;
    }

    /**
     * A form value read as pydantic reads a boolean in lax mode: {@code 1 on t true y yes} and
     * {@code 0 off f false n no}, in any case, around any whitespace; null for anything else (vLLM refuses it).
     */
    static Boolean laxBoolean(String text) {
        return switch (text.strip().toLowerCase(Locale.ROOT)) {
            case "1", "on", "t", "true", "y", "yes" -> Boolean.TRUE;
            case "0", "off", "f", "false", "n", "no" -> Boolean.FALSE;
            default -> null;
        };
    }

    private static boolean endsWith(byte[] bytes, int length, byte[] suffix) {
        for (int i = 0; i < suffix.length; i++) {
            if (bytes[length - suffix.length + i] != suffix[i]) {
                return false;
            }
        }
        return true;
    }

    /** Knuth–Morris–Pratt failure function of the first {@code length} bytes of {@code pattern}. */
    private static int[] failure(byte[] pattern, int length) {
        int[] table = new int[length + 1];
        int k = 0;
        for (int i = 1; i < length; i++) {
            while (k > 0 && pattern[i] != pattern[k]) {
                k = table[k - 1];
            }
            if (pattern[i] == pattern[k]) {
                k++;
            }
            table[i] = k;
        }
        return table;
    }
}
