package dev.tokentap.proxy.usage;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Splits a {@code text/event-stream} body into events as its bytes arrive in arbitrary pieces. An event ends at a
 * blank line; lines end with {@code \n} or {@code \r\n}. For each complete event the parser reports its {@code event}
 * type and its {@code data} (multiple {@code data:} lines joined with {@code \n}), and where in the current piece it
 * ended, so a caller can pass on or drop exactly that event's bytes.
 *
 * <p>An event longer than {@link #MAX_EVENT_BYTES} is still delimited but not kept: it is reported as
 * {@link SseEvent#oversized()} with no data. One instance per stream; not thread-safe.
 */
public final class SseEventParser {

    /** Events longer than this are not buffered for reading; vLLM's chunks are a few hundred bytes. */
    public static final int MAX_EVENT_BYTES = 1024 * 1024;

    private static final byte[] DONE = "[DONE]".getBytes(StandardCharsets.US_ASCII);

    /**
     * One complete event. Its data is a range of an array that the parser reuses: valid while the listener runs,
     * to be copied ({@link #data()}) by anything that keeps it.
     *
     * @param type       the {@code event:} field, or null
     * @param buffer     the array holding the data, or null when the event had no {@code data:} line
     * @param dataOffset where the data (the joined {@code data:} lines) begins in {@code buffer}
     * @param dataLength how long it is
     * @param oversized  the event was too long to read; {@code type} and {@code buffer} are then null
     */
    public record SseEvent(String type, byte[] buffer, int dataOffset, int dataLength, boolean oversized) {

        /** Whether the event had data. */
        public boolean hasData() {
            return buffer != null;
        }

        /** A copy of the data, or null when the event had none. */
        public byte[] data() {
            return buffer == null ? null : Arrays.copyOfRange(buffer, dataOffset, dataOffset + dataLength);
        }

        /** Whether the data is vLLM's end marker {@code [DONE]}. */
        public boolean done() {
            return buffer != null
                    && Arrays.equals(buffer, dataOffset, dataOffset + dataLength, DONE, 0, DONE.length);
        }
    }

    /** Receives complete events. */
    public interface Listener {
        /**
         * @param event the event
         * @param end   index in the array given to {@link #feed} just past the event's last byte
         */
        void onEvent(SseEvent event, int end);
    }

    private byte[] event = new byte[1024];
    private int eventLength;
    private long eventTotal;
    private int lineLength;
    private boolean lineIsCr;

    /** Whether bytes of an unfinished event are pending. */
    public boolean inEvent() {
        return eventTotal > 0;
    }

    /** Whether the unfinished event has grown past {@link #MAX_EVENT_BYTES}. */
    public boolean currentEventOversized() {
        return eventTotal > MAX_EVENT_BYTES;
    }

    /** Feeds {@code bytes[offset, offset+length)}, reporting each event that completes within them. */
    public void feed(byte[] bytes, int offset, int length, Listener listener) {
        int end = offset + length;
        int runStart = offset;
        for (int i = offset; i < end; i++) {
            byte b = bytes[i];
            if (b == '\n') {
                boolean blank = lineLength == 0 || (lineLength == 1 && lineIsCr);
                lineLength = 0;
                lineIsCr = false;
                if (blank) {
                    // a blank line ends the event; one with nothing before it is a stray separator, passed on
                    // as an empty event of its own
                    keep(bytes, runStart, i + 1 - runStart);
                    runStart = i + 1;
                    listener.onEvent(completeEvent(), i + 1);
                }
            } else {
                lineIsCr = lineLength == 0 && b == '\r';
                lineLength++;
            }
        }
        keep(bytes, runStart, end - runStart);
    }

    private void keep(byte[] bytes, int offset, int length) {
        if (length <= 0) {
            return;
        }
        eventTotal += length;
        if (eventTotal > MAX_EVENT_BYTES) {
            eventLength = 0;
            return;
        }
        if (eventLength + length > event.length) {
            event = Arrays.copyOf(event, Math.max(event.length * 2, eventLength + length));
        }
        System.arraycopy(bytes, offset, event, eventLength, length);
        eventLength += length;
    }

    private SseEvent completeEvent() {
        boolean oversized = eventTotal > MAX_EVENT_BYTES;
        SseEvent result = oversized ? new SseEvent(null, null, 0, 0, true) : parse(event, eventLength);
        eventLength = 0;
        eventTotal = 0;
        if (event.length > 64 * 1024) {
            event = new byte[1024];
        }
        return result;
    }

    private static SseEvent parse(byte[] raw, int length) {
        String type = null;
        // vLLM sends one data line per event: handed out where it lies in the event's bytes; only a second line
        // (rare) needs a buffer of its own
        int dataStart = -1;
        int dataEnd = -1;
        ByteArrayOutputStream joined = null;
        int lineStart = 0;
        for (int i = 0; i < length; i++) {
            if (raw[i] != '\n') {
                continue;
            }
            int lineEnd = i > lineStart && raw[i - 1] == '\r' ? i - 1 : i;
            int lineLen = lineEnd - lineStart;
            if (lineLen > 0 && raw[lineStart] != ':') {
                int colon = indexOf(raw, lineStart, lineEnd, (byte) ':');
                int nameEnd = colon < 0 ? lineEnd : colon;
                int valueStart = colon < 0 ? lineEnd : colon + 1;
                if (valueStart < lineEnd && raw[valueStart] == ' ') {
                    valueStart++;
                }
                if (matches(raw, lineStart, nameEnd, "data")) {
                    if (dataStart < 0 && joined == null) {
                        dataStart = valueStart;
                        dataEnd = lineEnd;
                    } else {
                        if (joined == null) {
                            joined = new ByteArrayOutputStream(dataEnd - dataStart + 1 + lineEnd - valueStart);
                            joined.write(raw, dataStart, dataEnd - dataStart);
                        }
                        joined.write('\n');
                        joined.write(raw, valueStart, lineEnd - valueStart);
                    }
                } else if (matches(raw, lineStart, nameEnd, "event")) {
                    type = new String(raw, valueStart, lineEnd - valueStart, StandardCharsets.UTF_8);
                }
            }
            lineStart = i + 1;
        }
        if (joined != null) {
            byte[] data = joined.toByteArray();
            return new SseEvent(type, data, 0, data.length, false);
        }
        return dataStart < 0 ? new SseEvent(type, null, 0, 0, false)
                : new SseEvent(type, raw, dataStart, dataEnd - dataStart, false);
    }

    private static int indexOf(byte[] raw, int from, int to, byte b) {
        for (int i = from; i < to; i++) {
            if (raw[i] == b) {
                return i;
            }
        }
        return -1;
    }

    private static boolean matches(byte[] raw, int from, int to, String name) {
        if (to - from != name.length()) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            if (raw[from + i] != name.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
