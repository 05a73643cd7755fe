package dev.tokentap.proxy.usage;

/**
 * Finds the top-level {@code "usage"} member of one SSE event ({@code data: {…}}) by byte offsets, so the proxy can
 * cut out what {@code continuous_usage_stats} added and leave every other byte of the chunk as vLLM sent it: no
 * parse tree, no re-serialisation. Pure and allocation-free.
 */
public final class ChunkUsageSplice {

    /** How a chunk's usage is put back to what the client would have seen without the proxy's request. */
    public enum Mode {
        /** Leave the chunk alone (the client asked for the usage, or nothing was injected). */
        KEEP,
        /** Remove the member with its separating comma: chat chunks carry no {@code usage} unless asked. */
        REMOVE,
        /** Replace the value by {@code null}: completions chunks always carry {@code "usage":null}. */
        NULL
    }

    /** Nothing to cut. */
    public static final long NONE = -1;

    private ChunkUsageSplice() {
    }

    /**
     * The range {@code [start, end)} of {@code event[from, to)} to cut, packed as {@code start << 32 | end}, or
     * {@link #NONE} when the event is not a single {@code data:} JSON object with a {@code usage} object. In
     * {@link Mode#NULL} the cut range is the value only, to be replaced by {@code null}.
     */
    public static long find(byte[] event, int from, int to, Mode mode) {
        if (mode == Mode.KEEP || to - from < 6 || event[from] != 'd' || event[from + 1] != 'a'
                || event[from + 2] != 't' || event[from + 3] != 'a' || event[from + 4] != ':') {
            return NONE;
        }
        int i = from + 5;
        if (i < to && event[i] == ' ') {
            i++;
        }
        if (i >= to || event[i] != '{') {
            return NONE;
        }
        int depth = 0;
        int lastSeparator = -1;
        boolean expectingKey = false;
        for (; i < to; i++) {
            byte c = event[i];
            if (c == '"') {
                int keyStart = i;
                i = skipString(event, i, to);
                if (i < 0) {
                    return NONE;
                }
                if (depth == 1 && expectingKey) {
                    expectingKey = false;
                    if (isUsage(event, keyStart, i)) {
                        return cut(event, keyStart, i + 1, to, lastSeparator, mode);
                    }
                }
            } else if (c == '{' || c == '[') {
                depth++;
                if (depth == 1) {
                    lastSeparator = i;
                    expectingKey = true;
                }
            } else if (c == '}' || c == ']') {
                depth--;
                if (depth <= 0) {
                    return NONE;
                }
            } else if (c == ',' && depth == 1) {
                lastSeparator = i;
                expectingKey = true;
            } else if (c == '\n') {
                // the data line ended: more lines are not vLLM's shape
                return NONE;
            }
        }
        return NONE;
    }

    private static long cut(byte[] b, int keyStart, int afterKey, int to, int lastSeparator, Mode mode) {
        int i = skipSpace(b, afterKey, to);
        if (i >= to || b[i] != ':') {
            return NONE;
        }
        int valueStart = skipSpace(b, i + 1, to);
        if (valueStart >= to || b[valueStart] != '{') {
            // null or anything else: not what continuous_usage_stats adds
            return NONE;
        }
        int valueEnd = skipObject(b, valueStart, to);
        if (valueEnd < 0) {
            return NONE;
        }
        if (mode == Mode.NULL) {
            return pack(valueStart, valueEnd);
        }
        if (b[lastSeparator] == ',') {
            return pack(lastSeparator, valueEnd);
        }
        // the first member: take the comma that follows instead
        int next = skipSpace(b, valueEnd, to);
        if (next < to && b[next] == ',') {
            return pack(keyStart, next + 1);
        }
        return pack(keyStart, valueEnd);
    }

    private static long pack(int start, int end) {
        return ((long) start << 32) | (end & 0xffffffffL);
    }

    /** The start of a packed range. */
    public static int start(long range) {
        return (int) (range >>> 32);
    }

    /** The end of a packed range. */
    public static int end(long range) {
        return (int) range;
    }

    private static boolean isUsage(byte[] b, int quote, int closingQuote) {
        return closingQuote - quote == 6 && b[quote + 1] == 'u' && b[quote + 2] == 's' && b[quote + 3] == 'a'
                && b[quote + 4] == 'g' && b[quote + 5] == 'e';
    }

    /** Index of the closing quote of the string opening at {@code quote}, or -1. */
    private static int skipString(byte[] b, int quote, int to) {
        for (int i = ByteScan.indexOf(b, quote + 1, to, (byte) '"'); i >= 0;
                i = ByteScan.indexOf(b, i + 1, to, (byte) '"')) {
            // a quote after an odd run of backslashes is escaped; each pair of them is one escaped backslash
            int backslashes = 0;
            while (i - 1 - backslashes > quote && b[i - 1 - backslashes] == '\\') {
                backslashes++;
            }
            if ((backslashes & 1) == 0) {
                return i;
            }
        }
        return -1;
    }

    /** Index just past the object opening at {@code open}, or -1. */
    private static int skipObject(byte[] b, int open, int to) {
        int depth = 0;
        for (int i = open; i < to; i++) {
            byte c = b[i];
            if (c == '"') {
                i = skipString(b, i, to);
                if (i < 0) {
                    return -1;
                }
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                depth--;
                if (depth == 0) {
                    return i + 1;
                }
            }
        }
        return -1;
    }

    private static int skipSpace(byte[] b, int i, int to) {
        while (i < to && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r')) {
            i++;
        }
        return i;
    }
}
