package dev.tokentap.proxy.usage;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * The tap on a {@code text/event-stream} response: reads every event's JSON into {@link ResponseFacts} and, in
 * strip mode (the proxy injected {@code stream_options}), removes the usage-only chunk vLLM sent because of it, so
 * the client receives byte for byte what it would have received without the proxy.
 *
 * <p>Observe mode passes every piece on as it comes. Strip mode passes on every complete event at once and holds
 * back only the bytes of an unfinished trailing event until its end arrives. One instance per response; not
 * thread-safe.
 */
public final class SseResponseTap {

    private final SseEventParser parser = new SseEventParser();
    private final ResponseFacts facts;
    private final boolean strip;
    private byte[] scratch = new byte[0];
    private byte[] held = new byte[0];
    private int heldLength;
    private int stripped;

    /**
     * @param facts where to put what the events say
     * @param strip whether to remove the usage-only chunk
     */
    public SseResponseTap(ResponseFacts facts, boolean strip) {
        this.facts = facts;
        this.strip = strip;
    }

    /** How many events were removed from the client's view. */
    public int strippedEvents() {
        return stripped;
    }

    /**
     * Reads {@code input} and adds what the client should receive to {@code output}. Output buffers are slices of
     * the input (valid as long as it is) or fresh copies of held-back bytes.
     */
    public void transform(ByteBuffer input, boolean finished, List<ByteBuffer> output) {
        int length = input.remaining();
        byte[] bytes;
        int offset;
        if (input.hasArray()) {
            bytes = input.array();
            offset = input.arrayOffset() + input.position();
        } else {
            bytes = scratch(length);
            input.duplicate().get(bytes, 0, length);
            offset = 0;
        }
        if (!strip) {
            parser.feed(bytes, offset, length, (event, end) -> read(event));
            if (length > 0) {
                output.add(input);
            }
            return;
        }

        Splicer splicer = new Splicer(bytes, input, offset, output);
        parser.feed(bytes, offset, length, splicer);
        splicer.passRun();
        int rest = offset + length - splicer.from;
        if (finished || parser.currentEventOversized()) {
            // nothing more will complete this event, or it is too long to be the usage chunk: let it go
            splicer.flushHeld();
            splicer.runEnd = offset + length;
            splicer.passRun();
        } else if (rest > 0) {
            hold(bytes, splicer.from, rest);
        }
    }

    private void read(SseEventParser.SseEvent event) {
        if (event.data() != null && !event.done()) {
            UsageExtractor.read(event.data(), facts);
        }
    }

    private void hold(byte[] bytes, int offset, int length) {
        if (heldLength + length > held.length) {
            byte[] bigger = new byte[Math.max(heldLength + length, Math.max(256, held.length * 2))];
            System.arraycopy(held, 0, bigger, 0, heldLength);
            held = bigger;
        }
        System.arraycopy(bytes, offset, held, heldLength, length);
        heldLength += length;
    }

    private byte[] scratch(int length) {
        if (scratch.length < length) {
            scratch = new byte[Math.max(length, 8192)];
        }
        return scratch;
    }

    /** Passes on complete events as contiguous runs of the input, dropping the usage-only chunk. */
    private final class Splicer implements SseEventParser.Listener {
        private final byte[] bytes;
        private final ByteBuffer input;
        private final int base;
        private final List<ByteBuffer> output;
        /** Index (in {@code bytes}) of the first byte not yet passed on or dropped. */
        int from;
        /** End of the run of kept events starting at {@code from}. */
        int runEnd;

        Splicer(byte[] bytes, ByteBuffer input, int base, List<ByteBuffer> output) {
            this.bytes = bytes;
            this.input = input;
            this.base = base;
            this.output = output;
            this.from = base;
            this.runEnd = base;
        }

        @Override
        public void onEvent(SseEventParser.SseEvent event, int end) {
            boolean usageOnly = false;
            if (event.data() != null && !event.done()) {
                usageOnly = UsageExtractor.read(event.data(), facts) == UsageExtractor.Kind.USAGE_ONLY;
            }
            if (usageOnly) {
                passRun();
                heldLength = 0;
                from = end;
                runEnd = end;
                stripped++;
            } else if (heldLength > 0) {
                // the event began in an earlier piece: pass on its held start and its end as one buffer
                byte[] whole = new byte[heldLength + end - from];
                System.arraycopy(held, 0, whole, 0, heldLength);
                System.arraycopy(bytes, from, whole, heldLength, end - from);
                output.add(ByteBuffer.wrap(whole));
                heldLength = 0;
                from = end;
                runEnd = end;
            } else {
                runEnd = end;
            }
        }

        void flushHeld() {
            if (heldLength > 0) {
                byte[] copy = new byte[heldLength];
                System.arraycopy(held, 0, copy, 0, heldLength);
                output.add(ByteBuffer.wrap(copy));
                heldLength = 0;
            }
        }

        void passRun() {
            if (runEnd > from) {
                ByteBuffer slice = input.duplicate();
                slice.position(input.position() + (from - base));
                slice.limit(input.position() + (runEnd - base));
                output.add(slice);
                from = runEnd;
            }
        }
    }
}
