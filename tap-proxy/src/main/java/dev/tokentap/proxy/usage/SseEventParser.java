package dev.tokentap.proxy.usage;

import java.nio.charset.StandardCharsets;

/**
 * Splits a {@code text/event-stream} body into events as its bytes arrive in arbitrary pieces. An event ends at a
 * blank line; lines end with {@code \n} or {@code \r\n}. The {@code data} of an event (multiple {@code data:} lines
 * joined with {@code \n}) is handed on as it arrives, never gathered: a caller reads it as it streams past, so an
 * event of any size costs nothing here. For each complete event the parser reports its {@code event} type, whether it
 * had data and whether that data was vLLM's {@code [DONE]}, and where in the current piece it ended, so a caller can
 * pass on or drop exactly that event's bytes.
 *
 * <p>One instance per stream; not thread-safe.
 */
public final class SseEventParser {

    /** An {@code event:} type longer than this is no type vLLM sends: the event is reported without one. */
    static final int MAX_TYPE_BYTES = 128;

    private static final byte[] DONE = "[DONE]".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DATA = "data".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EVENT = "event".getBytes(StandardCharsets.US_ASCII);

    /**
     * One complete event.
     *
     * @param type    the {@code event:} field, or null
     * @param hasData whether the event had a {@code data:} line
     * @param done    whether its data was vLLM's end marker {@code [DONE]}
     */
    public record SseEvent(String type, boolean hasData, boolean done) {
    }

    /** Receives the data of events as it arrives, and the events as they complete. */
    public interface Listener {
        /**
         * The next bytes of the current event's data ({@code bytes[offset, offset+length)}), valid during the call
         * only. The first call of an event comes with {@code first}; the data lines of one event come joined by a
         * {@code \n}.
         */
        void onData(byte[] bytes, int offset, int length, boolean first);

        /**
         * @param event the event
         * @param end   index in the array given to {@link #feed} just past the event's last byte
         */
        void onEvent(SseEvent event, int end);
    }

    /** What the current line is. */
    private enum Field { NAME, DATA, EVENT, IGNORED }

    private Field field = Field.NAME;
    /** Bytes of the current line so far, to tell a blank line. */
    private int lineLength;
    private boolean lineIsCr;
    /** The field name read so far, while {@link Field#NAME}; longer names are no name we read. */
    private final byte[] name = new byte[EVENT.length];
    private int nameLength;
    /** Right after a field's colon: one space there is not part of the value. */
    private boolean valueStart;
    /** A {@code \r} in a value, held back until the next byte says whether it ends the line. */
    private boolean pendingCr;
    private final byte[] type = new byte[MAX_TYPE_BYTES];
    private int typeLength;
    private boolean hasData;
    private boolean dataStarted;
    /** Data bytes of the current event, and its first few, to tell {@code [DONE]}. */
    private long dataLength;
    private final byte[] dataHead = new byte[DONE.length];
    /** Bytes of the current event so far. */
    private long eventBytes;

    /** Whether bytes of an unfinished event are pending. */
    public boolean inEvent() {
        return eventBytes > 0;
    }

    /** Bytes of the unfinished event so far. */
    public long currentEventBytes() {
        return eventBytes;
    }

    /** Feeds {@code bytes[offset, offset+length)}, reporting data as it comes and each event that completes. */
    public void feed(byte[] bytes, int offset, int length, Listener listener) {
        int end = offset + length;
        // start of a run of value bytes not yet handed on, or -1
        int valueFrom = -1;
        for (int i = offset; i < end; i++) {
            byte b = bytes[i];
            eventBytes++;
            if (b == '\n') {
                if (valueFrom >= 0) {
                    // a \r right before the \n ends the line, it is not data
                    int valueEnd = i > valueFrom && bytes[i - 1] == '\r' ? i - 1 : i;
                    value(bytes, valueFrom, valueEnd, listener);
                    valueFrom = -1;
                }
                pendingCr = false;
                boolean blank = lineLength == 0 || (lineLength == 1 && lineIsCr);
                endLine(listener);
                if (blank) {
                    // a blank line ends the event; one with nothing before it is a stray separator, passed on
                    // as an empty event of its own
                    listener.onEvent(completeEvent(), i + 1);
                }
                continue;
            }
            lineIsCr = lineLength == 0 && b == '\r';
            lineLength++;
            switch (field) {
                case NAME -> {
                    if (b == ':') {
                        field = lineLength == 1 ? Field.IGNORED : fieldOfName();
                        valueStart = true;
                        if (field == Field.DATA) {
                            startDataLine(listener);
                        } else if (field == Field.EVENT) {
                            // of several event: lines, the last one counts
                            typeLength = 0;
                        }
                    } else if (nameLength < name.length) {
                        name[nameLength++] = b;
                    } else {
                        nameLength = name.length + 1;
                    }
                }
                case DATA, EVENT -> {
                    if (valueStart) {
                        valueStart = false;
                        if (b == ' ') {
                            continue;
                        }
                    }
                    if (pendingCr) {
                        // the \r held back from the piece before was data after all
                        pendingCr = false;
                        value(new byte[] {'\r'}, 0, 1, listener);
                    }
                    if (valueFrom < 0) {
                        valueFrom = i;
                    }
                    // the rest of a value up to its line's end needs no per-byte state: one search for the next \n,
                    // eight bytes at a time, instead of the whole switch for every byte; a \r inside a value is data,
                    // and one right before the \n is left out where the line ends (above)
                    int next = ByteScan.indexOf(bytes, i + 1, end, (byte) '\n');
                    if (next < 0) {
                        next = end;
                    }
                    int run = next - 1 - i;
                    eventBytes += run;
                    lineLength += run;
                    i = next - 1;
                }
                default -> {
                    // a comment or a field we do not read
                }
            }
        }
        if (valueFrom >= 0) {
            int valueEnd = end;
            if (bytes[end - 1] == '\r') {
                // it may be followed by the \n that ends the line, in the next piece
                valueEnd--;
                pendingCr = true;
            }
            value(bytes, valueFrom, valueEnd, listener);
        }
    }

    private Field fieldOfName() {
        if (matches(DATA)) {
            return Field.DATA;
        }
        return matches(EVENT) ? Field.EVENT : Field.IGNORED;
    }

    private boolean matches(byte[] expected) {
        if (nameLength != expected.length) {
            return false;
        }
        for (int i = 0; i < expected.length; i++) {
            if (name[i] != expected[i]) {
                return false;
            }
        }
        return true;
    }

    private void startDataLine(Listener listener) {
        if (hasData) {
            // the data lines of one event are joined with a newline
            value(new byte[] {'\n'}, 0, 1, listener);
        }
        hasData = true;
    }

    private void value(byte[] bytes, int from, int to, Listener listener) {
        if (to <= from) {
            return;
        }
        if (field == Field.EVENT) {
            int n = Math.min(to - from, MAX_TYPE_BYTES - typeLength);
            System.arraycopy(bytes, from, type, typeLength, Math.max(0, n));
            typeLength = to - from > n ? MAX_TYPE_BYTES + 1 : typeLength + n;
            return;
        }
        for (int i = from; i < to && dataLength + (i - from) < dataHead.length; i++) {
            dataHead[(int) (dataLength + (i - from))] = bytes[i];
        }
        dataLength += to - from;
        listener.onData(bytes, from, to - from, !dataStarted);
        dataStarted = true;
    }

    private void endLine(Listener listener) {
        if (field == Field.NAME && bareData()) {
            // a line without a colon is a field with an empty value: "data" alone is an empty data line
            startDataLine(listener);
        }
        field = Field.NAME;
        nameLength = 0;
        lineLength = 0;
        lineIsCr = false;
        valueStart = false;
    }

    /** Whether the line read, which had no colon, was {@code data} (and maybe the {@code \r} before its end). */
    private boolean bareData() {
        int n = nameLength > 0 && nameLength <= name.length && name[nameLength - 1] == '\r'
                ? nameLength - 1 : nameLength;
        if (n != DATA.length) {
            return false;
        }
        for (int i = 0; i < DATA.length; i++) {
            if (name[i] != DATA[i]) {
                return false;
            }
        }
        return true;
    }

    private SseEvent completeEvent() {
        String eventType = typeLength > 0 && typeLength <= MAX_TYPE_BYTES
                ? new String(type, 0, typeLength, StandardCharsets.UTF_8) : null;
        boolean done = dataLength == DONE.length && java.util.Arrays.equals(dataHead, DONE);
        SseEvent event = new SseEvent(eventType, hasData, done);
        typeLength = 0;
        hasData = false;
        dataStarted = false;
        dataLength = 0;
        eventBytes = 0;
        return event;
    }
}
