package dev.tokentap.proxy.usage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The tap on a {@code text/event-stream} response: reads every event's JSON into {@link ResponseFacts} and, in
 * strip mode (the proxy asked vLLM for usage), removes from the client's view what vLLM sent only because of that
 * ({@link StreamStrip}): the usage-only chunk, each chunk's running {@code usage} member ({@link ChunkUsageSplice}),
 * and on current vLLM it puts the {@code system_fingerprint} back on the terminal chunks, where vLLM puts it when
 * usage is off, so the client receives byte for byte what it would have received without the proxy.
 *
 * <p>Each event's JSON is read as its bytes arrive, never gathered (see {@link SseEventParser}), so an event of any
 * size costs the tap no more than a small one. Observe mode passes every piece on as it comes. Strip mode passes on
 * every complete event at once and holds back only the bytes of an unfinished trailing event until its end arrives,
 * up to {@link #MAX_HELD_EVENT_BYTES}: a longer event cannot be one it removes or splices, and passes on as it comes.
 * When the fingerprint must be put back, a terminal chunk (and whatever follows it) waits for the usage-only chunk
 * that carries it: with one choice that is the very next event. One instance per response; not thread-safe.
 */
public final class SseResponseTap {

    private static final byte[] NULL_BYTES = "null".getBytes(StandardCharsets.US_ASCII);
    private static final ByteBuffer NULL = ByteBuffer.wrap(NULL_BYTES).asReadOnlyBuffer();
    /** A member only vLLM's whole {@code CompletionResponse} has, never a chunk. */
    private static final byte[] SERVICE_TIER = "\"service_tier\":".getBytes(StandardCharsets.US_ASCII);
    /** A choice that finished: a terminal chunk. */
    private static final byte[] FINISH_REASON_SET = "\"finish_reason\":\"".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] FINGERPRINT = "\"system_fingerprint\":\"".getBytes(StandardCharsets.US_ASCII);

    /**
     * The longest unfinished event strip mode holds back. vLLM's usage-only chunk, and a chunk that carries a running
     * usage, are a few hundred bytes (a few KiB with log probabilities); an event longer than this passes on as it
     * comes, whatever it holds.
     */
    public static final int MAX_HELD_EVENT_BYTES = 64 * 1024;

    private final SseEventParser parser = new SseEventParser();
    /** Reads every event's JSON through one parser. */
    private final UsageExtractor events;
    /** What strip mode removes; null in observe mode. */
    private final StreamStrip strip;
    /**
     * Copies of the events held back until the usage-only chunk brings the fingerprint: from the first terminal
     * chunk on, each with whether it is terminal (current vLLM, a client without usage, see {@link StreamStrip}).
     */
    private final java.util.ArrayList<byte[]> waiting = new java.util.ArrayList<>();
    private final java.util.ArrayList<Boolean> waitingTerminal = new java.util.ArrayList<>();
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
        this(facts, strip ? StreamStrip.fixed(true, chunkUsage) : null);
    }

    /**
     * @param facts where to put what the events say
     * @param strip what to remove from the client's view; null to only observe
     */
    public SseResponseTap(ResponseFacts facts, StreamStrip strip) {
        this.events = UsageExtractor.forEvents(facts);
        this.strip = strip;
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
        if (strip == null) {
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
            splicer.passRun();
            splicer.release(null);
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

    /** {@link #marks}: the event names {@code "service_tier":}. */
    private static final int NAMES_SERVICE_TIER = 1;
    /** {@link #marks}: the event has {@code "finish_reason":"}, a choice that finished. */
    private static final int SETS_FINISH_REASON = 2;

    /**
     * Which of the members strip mode tells by their bytes an event holds, in one pass over its quotes: each begins
     * with a quote, and a quote inside a JSON string is escaped, so neither can be matched inside text.
     */
    static int marks(byte[] event, int from, int to) {
        int marks = 0;
        for (int i = ByteScan.indexOf(event, from, to, (byte) '"'); i >= 0 && i + 1 < to;
                i = ByteScan.indexOf(event, i + 1, to, (byte) '"')) {
            byte next = event[i + 1];
            if (next == 's' && i + SERVICE_TIER.length <= to && ByteScan.startsWith(event, i, SERVICE_TIER)) {
                marks |= NAMES_SERVICE_TIER;
            } else if (next == 'f' && i + FINISH_REASON_SET.length <= to
                    && ByteScan.startsWith(event, i, FINISH_REASON_SET)) {
                marks |= SETS_FINISH_REASON;
            }
        }
        return marks;
    }

    /** The bytes of the {@code system_fingerprint} string's value in an event (escapes kept), or null. */
    static byte[] fingerprint(byte[] event, int from, int to) {
        int at = ByteScan.indexOf(event, from, to, FINGERPRINT);
        if (at < 0) {
            return null;
        }
        int valueStart = at + FINGERPRINT.length;
        for (int i = valueStart; i < to; i++) {
            if (event[i] == '\\') {
                i++;
            } else if (event[i] == '"') {
                return java.util.Arrays.copyOfRange(event, valueStart, i);
            }
        }
        return null;
    }

    /** The event with {@code ,"system_fingerprint":"<fp>"} before the closing brace of its JSON. */
    static byte[] withFingerprint(byte[] event, byte[] fingerprint) {
        int brace = event.length - 1;
        while (brace >= 0 && event[brace] != '}') {
            brace--;
        }
        if (brace < 0) {
            return event;
        }
        byte[] member = ",\"system_fingerprint\":\"".getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[event.length + member.length + fingerprint.length + 1];
        System.arraycopy(event, 0, out, 0, brace);
        int at = brace;
        System.arraycopy(member, 0, out, at, member.length);
        at += member.length;
        System.arraycopy(fingerprint, 0, out, at, fingerprint.length);
        at += fingerprint.length;
        out[at++] = '"';
        System.arraycopy(event, brace, out, at, event.length - brace);
        return out;
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
                keep(end);
                return;
            }
            // the event's bytes: in the input, or (begun in an earlier piece) a copy of the whole of it
            byte[] event0;
            int start;
            int stop;
            if (heldLength == 0) {
                event0 = bytes;
                start = runEnd;
                stop = end;
            } else {
                event0 = new byte[heldLength + end - from];
                System.arraycopy(held, 0, event0, 0, heldLength);
                System.arraycopy(bytes, from, event0, heldLength, end - from);
                start = 0;
                stop = event0.length;
            }
            if (kind == null && !event.done() && !waiting.isEmpty()) {
                // an event without data (a comment) among those waiting: it waits too, in its place
                passRun();
                waiting.add(java.util.Arrays.copyOfRange(event0, start, stop));
                waitingTerminal.add(false);
                heldLength = 0;
                from = end;
                runEnd = end;
                return;
            }
            int marks = kind == null ? 0 : marks(event0, start, stop);
            if (kind == null || kind == UsageExtractor.Kind.ERROR || kind == UsageExtractor.Kind.UNREADABLE
                    || (marks & NAMES_SERVICE_TIER) != 0) {
                // [DONE], an error, or (legacy) a whole completion sent as the one event of a stream vLLM did not
                // stream: as vLLM sent it, after whatever waited for a fingerprint that will not come
                passRun();
                release(null);
                keep(end);
                return;
            }
            if (kind == UsageExtractor.Kind.USAGE_ONLY) {
                passRun();
                release(strip.restoreFingerprint() ? fingerprint(event0, start, stop) : null);
                if (strip.dropUsageOnly()) {
                    heldLength = 0;
                    from = end;
                    runEnd = end;
                    stripped++;
                } else {
                    keep(end);
                }
                return;
            }
            strip.settleFrom(event0, start, stop);
            long cut = kind == UsageExtractor.Kind.WITH_USAGE && strip.chunkUsage() != ChunkUsageSplice.Mode.KEEP
                    ? ChunkUsageSplice.find(event0, start, stop, strip.chunkUsage()) : ChunkUsageSplice.NONE;
            boolean terminal = strip.restoreFingerprint() && (marks & SETS_FINISH_REASON) != 0;
            if (terminal || !waiting.isEmpty()) {
                passRun();
                byte[] copy;
                if (cut == ChunkUsageSplice.NONE) {
                    copy = java.util.Arrays.copyOfRange(event0, start, stop);
                } else {
                    copy = spliced(event0, start, stop, cut);
                    spliced++;
                }
                waiting.add(copy);
                waitingTerminal.add(terminal);
                heldLength = 0;
                from = end;
                runEnd = end;
                return;
            }
            if (cut == ChunkUsageSplice.NONE) {
                keep(end);
                return;
            }
            passRun();
            if (event0 == bytes) {
                output.add(slice(start, ChunkUsageSplice.start(cut)));
                if (strip.chunkUsage() == ChunkUsageSplice.Mode.NULL) {
                    output.add(NULL.duplicate());
                }
                output.add(slice(ChunkUsageSplice.end(cut), end));
            } else {
                output.add(ByteBuffer.wrap(spliced(event0, start, stop, cut)));
            }
            heldLength = 0;
            from = end;
            runEnd = end;
            spliced++;
        }

        /** Passes on the event ending at {@code end} as it came. */
        private void keep(int end) {
            if (heldLength > 0) {
                // the event began in an earlier piece: pass on its held start and its end as one buffer
                byte[] whole = new byte[heldLength + end - from];
                System.arraycopy(held, 0, whole, 0, heldLength);
                System.arraycopy(bytes, from, whole, heldLength, end - from);
                output.add(ByteBuffer.wrap(whole));
                heldLength = 0;
                from = end;
            }
            runEnd = end;
        }

        /** A copy of the event with its usage cut out or nulled. */
        private byte[] spliced(byte[] event, int start, int stop, long cut) {
            int a = ChunkUsageSplice.start(cut);
            int b = ChunkUsageSplice.end(cut);
            boolean nulled = strip.chunkUsage() == ChunkUsageSplice.Mode.NULL;
            byte[] out = new byte[(a - start) + (nulled ? 4 : 0) + (stop - b)];
            System.arraycopy(event, start, out, 0, a - start);
            int at = a - start;
            if (nulled) {
                System.arraycopy(NULL_BYTES, 0, out, at, 4);
                at += 4;
            }
            System.arraycopy(event, b, out, at, stop - b);
            return out;
        }

        /**
         * Passes on the events that waited for the fingerprint, {@code ,"system_fingerprint":"<fp>"} added as the
         * last member of each terminal chunk when {@code fingerprint} is not null (where vLLM puts it when usage is
         * off). Call after {@link #passRun()}: they follow what went before them.
         */
        void release(byte[] fingerprint) {
            for (int i = 0; i < waiting.size(); i++) {
                byte[] event = waiting.get(i);
                if (fingerprint != null && waitingTerminal.get(i)) {
                    event = withFingerprint(event, fingerprint);
                }
                output.add(ByteBuffer.wrap(event));
            }
            waiting.clear();
            waitingTerminal.clear();
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
