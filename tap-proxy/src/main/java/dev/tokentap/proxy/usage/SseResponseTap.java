package dev.tokentap.proxy.usage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The tap on a {@code text/event-stream} response: reads every event's JSON into {@link ResponseFacts} and, in
 * strip mode (the proxy injected {@code stream_options}), removes the usage-only chunk vLLM sent because of it, and
 * with {@code continuous_usage_stats} also each chunk's {@code usage} member ({@link ChunkUsageSplice}), so the
 * client receives byte for byte what it would have received without the proxy.
 *
 * <p>Each event's JSON is read as its bytes arrive, never gathered (see {@link SseEventParser}), so an event of any
 * size costs the tap no more than a small one. Observe mode passes every piece on as it comes. Strip mode passes on
 * every complete event at once and holds back only the bytes of an unfinished trailing event until its end arrives,
 * up to {@link #MAX_HELD_EVENT_BYTES}: a longer event cannot be one it removes or splices, and passes on as it comes.
 * One instance per response; not thread-safe.
 */
public final class SseResponseTap {

    private static final ByteBuffer NULL = ByteBuffer.wrap("null".getBytes(StandardCharsets.US_ASCII))
            .asReadOnlyBuffer();

    /**
     * The longest unfinished event strip mode holds back. vLLM's usage-only chunk, and a chunk that carries a running
     * usage, are a few hundred bytes (a few KiB with log probabilities); an event longer than this passes on as it
     * comes, whatever it holds.
     */
    public static final int MAX_HELD_EVENT_BYTES = 64 * 1024;

    private final SseEventParser parser = new SseEventParser();
    /** Reads every event's JSON through one parser. */
    private final UsageExtractor events;
    private final boolean strip;
    private final ChunkUsageSplice.Mode chunkUsage;
    private byte[] held = new byte[0];
    private int heldLength;
    /** The current event's first bytes were passed on before it ended: it can be neither dropped nor spliced. */
    private boolean eventPassedEarly;
    /** The current event's data is being read. */
    private boolean reading;
    private int stripped;
    private long spliced;

    /**
     * @param facts where to put what the events say
     * @param strip whether to remove the usage-only chunk
     */
    public SseResponseTap(ResponseFacts facts, boolean strip) {
        this(facts, strip, ChunkUsageSplice.Mode.KEEP);
    }

    /**
     * @param facts      where to put what the events say
     * @param strip      whether to remove the usage-only chunk
     * @param chunkUsage what to do with the {@code usage} member of the other chunks (strip mode only)
     */
    public SseResponseTap(ResponseFacts facts, boolean strip, ChunkUsageSplice.Mode chunkUsage) {
        this.events = UsageExtractor.forEvents(facts);
        this.strip = strip;
        this.chunkUsage = strip ? chunkUsage : ChunkUsageSplice.Mode.KEEP;
    }

    /** How many chunks had their {@code usage} member cut out or nulled. */
    public long splicedChunks() {
        return spliced;
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
            bytes = ThreadScratch.copyOf(input);
            offset = 0;
        }
        if (!strip) {
            parser.feed(bytes, offset, length, observer);
            if (length > 0) {
                output.add(input);
            }
            if (finished) {
                events.close();
            }
            return;
        }

        Splicer splicer = new Splicer(bytes, input, offset, output);
        parser.feed(bytes, offset, length, splicer);
        splicer.passRun();
        int rest = offset + length - splicer.from;
        if (finished || parser.currentEventBytes() > MAX_HELD_EVENT_BYTES) {
            // nothing more will complete this event, or it is too long to be one the strip removes: let it go
            if (parser.inEvent() && rest + heldLength > 0) {
                eventPassedEarly = true;
            }
            splicer.flushHeld();
            splicer.runEnd = offset + length;
            splicer.passRun();
        } else if (rest > 0) {
            hold(bytes, splicer.from, rest);
        }
        if (finished) {
            events.close();
        }
    }

    /** Reads each event's data as it arrives. */
    private void data(byte[] bytes, int offset, int length, boolean first) {
        if (first) {
            events.beginNext();
            reading = true;
        }
        events.feed(bytes, offset, length);
    }

    /** What the event's JSON is, or null for an event without data and for {@code [DONE]}. */
    private UsageExtractor.Kind read(SseEventParser.SseEvent event) {
        boolean read = reading;
        reading = false;
        if (!read || event.done()) {
            return null;
        }
        return events.finish();
    }

    private final SseEventParser.Listener observer = new SseEventParser.Listener() {
        @Override
        public void onData(byte[] bytes, int offset, int length, boolean first) {
            data(bytes, offset, length, first);
        }

        @Override
        public void onEvent(SseEventParser.SseEvent event, int end) {
            read(event);
        }
    };

    private void hold(byte[] bytes, int offset, int length) {
        if (heldLength + length > held.length) {
            byte[] bigger = new byte[Math.max(heldLength + length, Math.max(256, held.length * 2))];
            System.arraycopy(held, 0, bigger, 0, heldLength);
            held = bigger;
        }
        System.arraycopy(bytes, offset, held, heldLength, length);
        heldLength += length;
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
        public void onData(byte[] bytes, int offset, int length, boolean first) {
            data(bytes, offset, length, first);
        }

        @Override
        public void onEvent(SseEventParser.SseEvent event, int end) {
            UsageExtractor.Kind kind = read(event);
            if (eventPassedEarly) {
                // its beginning has gone to the client already: the rest goes too, as it is
                eventPassedEarly = false;
                kind = UsageExtractor.Kind.OTHER;
            }
            if (kind == UsageExtractor.Kind.WITH_USAGE && chunkUsage != ChunkUsageSplice.Mode.KEEP
                    && splice(end)) {
                return;
            }
            if (kind == UsageExtractor.Kind.USAGE_ONLY) {
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

        /** Passes on the event ending at {@code end} without its usage member; false if it has none to cut. */
        private boolean splice(int end) {
            int start = runEnd;
            if (heldLength == 0) {
                long cut = ChunkUsageSplice.find(bytes, start, end, chunkUsage);
                if (cut == ChunkUsageSplice.NONE) {
                    return false;
                }
                passRun();
                output.add(slice(start, ChunkUsageSplice.start(cut)));
                if (chunkUsage == ChunkUsageSplice.Mode.NULL) {
                    output.add(NULL.duplicate());
                }
                output.add(slice(ChunkUsageSplice.end(cut), end));
            } else {
                // the event began in an earlier piece: splice a copy of the whole of it
                byte[] whole = new byte[heldLength + end - from];
                System.arraycopy(held, 0, whole, 0, heldLength);
                System.arraycopy(bytes, from, whole, heldLength, end - from);
                long cut = ChunkUsageSplice.find(whole, 0, whole.length, chunkUsage);
                if (cut == ChunkUsageSplice.NONE) {
                    return false;
                }
                output.add(ByteBuffer.wrap(whole, 0, ChunkUsageSplice.start(cut)));
                if (chunkUsage == ChunkUsageSplice.Mode.NULL) {
                    output.add(NULL.duplicate());
                }
                int tail = ChunkUsageSplice.end(cut);
                output.add(ByteBuffer.wrap(whole, tail, whole.length - tail));
                heldLength = 0;
            }
            from = end;
            runEnd = end;
            spliced++;
            return true;
        }

        private ByteBuffer slice(int start, int end) {
            ByteBuffer slice = input.duplicate();
            slice.position(input.position() + (start - base));
            slice.limit(input.position() + (end - base));
            return slice;
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
