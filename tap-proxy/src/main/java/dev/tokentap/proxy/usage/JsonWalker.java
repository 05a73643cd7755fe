package dev.tokentap.proxy.usage;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonFactoryBuilder;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
import com.fasterxml.jackson.core.json.async.NonBlockingJsonParser;
import com.fasterxml.jackson.core.sym.ByteQuadsCanonicalizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;

/**
 * Walks one JSON document that arrives in pieces, through Jackson's non-blocking parser, and reports the shallow
 * parts of it (up to {@link #MAX_PATH_DEPTH} levels) by dotted path, e.g. {@code usage.prompt_tokens}. The caller
 * keeps ownership of the bytes: nothing fed is retained after {@link #feed} returns. Array elements are reported
 * without their index: {@code choices[]}, {@code choices[].index}.
 *
 * <p>Memory stays bounded whatever the document holds: a string (a value or a member name) longer than
 * {@link #MAX_STRING_BYTES} is cut, its first bytes reach the parser and the rest is dropped before the parser sees
 * it (Jackson's non-blocking parser would otherwise gather a whole string in memory, e.g. a prompt of tens of MiB);
 * {@link #stringCut()} says so while a cut value is reported, and a cut member name is not reported at all. A walker
 * of one document keeps no symbol table, so a document of millions of distinct names costs no more than one of a
 * few; a walker of a sequence keeps one of its own, bounded by {@link #MAX_SYMBOLS} and {@link #MAX_SYMBOL_CHARS}
 * (a fresh one for the next document once past them; a document of more than twice as many new names is not read
 * further). Offsets stay those of the bytes fed.
 *
 * <p>A walker made {@linkplain #JsonWalker(Visitor, boolean) for a sequence} reads one document after another
 * ({@link #nextDocument()}) through the same parser, as the events of a stream come: the parser, its symbol table
 * and the paths are made once per stream instead of once per event. A document that did not end cleanly (broken
 * JSON, or bytes after its root value) costs the next one a fresh parser, so one bad event never spoils another.
 */
public final class JsonWalker {

    /**
     * Deepest level reported; vLLM's usage fields sit at most four levels down (a Responses API stream event's
     * {@code response.usage.input_tokens_details.cached_tokens}).
     */
    public static final int MAX_PATH_DEPTH = 4;

    /**
     * The longest string, in bytes, handed to the parser whole: far longer than any id, model name or member name
     * the taps read, far shorter than a prompt or an inline image, which the parser never needs. Longer strings are
     * cut at the first character boundary past it.
     */
    public static final int MAX_STRING_BYTES = 4 * 1024;

    /**
     * What the parser accepts as one string, in characters: a cut string is at most {@link #MAX_STRING_BYTES} and
     * a few bytes, so this only stands behind the cutting, should it ever let one through.
     */
    static final int MAX_STRING_LENGTH = 64 * 1024;

    /** Paths remembered: far more than an OpenAI object has, and a bound for anything else. */
    private static final int MAX_PATHS_KEPT = 256;

    static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(MAX_STRING_LENGTH)
                    .maxNameLength(MAX_STRING_LENGTH).build())
            // a canonicalising parser keeps every distinct member name it meets, up to some 50,000 of them, for the
            // parser's life: a document of distinct names would hold megabytes per request
            .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES)
            .build();

    /**
     * Distinct member names a stream's parser keeps in its symbol table before the next document gets a fresh
     * one: vLLM's chunks use a few dozen, so a stream of them decodes each name once instead of once per chunk.
     */
    static final int MAX_SYMBOLS = 512;
    /** Characters of distinct member names a stream's symbol table may hold, with {@link #MAX_SYMBOLS}. */
    static final int MAX_SYMBOL_CHARS = 16 * 1024;

    /** The parsers of a sequence: their symbol tables are the walker's own, bounded (see {@link #nextDocument}). */
    private static final SequenceFactory SEQUENCE_FACTORY = new SequenceFactory();

    /**
     * Makes a non-blocking parser over a symbol table the caller owns, so what it keeps is bounded by the caller and
     * never merged into a table shared by every parser of the process.
     */
    private static final class SequenceFactory extends JsonFactory {
        SequenceFactory() {
            super((JsonFactoryBuilder) new JsonFactoryBuilder()
                    .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(MAX_STRING_LENGTH)
                            .maxNameLength(MAX_STRING_LENGTH).build())
                    // canonical, not interned: the JVM's string table is no place for names a stream sent
                    .enable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES)
                    .disable(JsonFactory.Feature.INTERN_FIELD_NAMES));
        }

        JsonParser parserWith(ByteQuadsCanonicalizer symbols) {
            return new NonBlockingJsonParser(_createNonBlockingContext(null), _parserFeatures, symbols);
        }
    }

    /** Receives the parts of the document; paths are relative to the root object, "" being the root itself. */
    public interface Visitor {
        /** A scalar value (string, number, boolean or null) at {@code path}. */
        void onScalar(String path, JsonToken token, JsonParser parser) throws IOException;

        /** An object or array opens at {@code path}. */
        default void onStart(String path, JsonToken token) {
        }

        /**
         * An object or array closes at {@code path}; {@code empty} when it had no members; {@code byteOffset} is
         * the position of its closing byte counted from the start of the document.
         */
        default void onEnd(String path, JsonToken token, boolean empty, long byteOffset) {
        }
    }

    /** Between two documents of a sequence: makes {@code }{} two root values whatever the documents hold. */
    private static final byte[] SEPARATOR = {' '};

    private final Visitor visitor;
    private final boolean sequence;
    /** Null once the walk is over: the owner may live as long as its exchange, the parser's tables need not. */
    private JsonParser parser;
    private ByteArrayFeeder feeder;
    /** Of a walker of a sequence: its parser's symbol table, and what it holds. */
    private ByteQuadsCanonicalizer symbols;
    private int symbolCount;
    private int symbolChars;
    /** Bytes fed to the parser before the current document began; its offsets count from the first document. */
    private long documentStart;
    private long fed;
    /**
     * Of a walker of a sequence, the paths made so far: of members by parent path and name, and of array elements
     * ({@code choices[]}) by the array's path. After the first event of a stream a path is a lookup, not a
     * concatenation. A walker of one document has none: it would only pay for the maps.
     */
    private final Map<String, Map<String, String>> memberPaths;
    private final Map<String, String> elementPathsByArray;
    private int pathsKept;
    private final String[] paths = new String[MAX_PATH_DEPTH + 1];
    /** Per open array: the path of its elements ({@code choices[]}), made once per array. */
    private final String[] elementPaths = new String[MAX_PATH_DEPTH + 1];
    private final int[] members = new int[MAX_PATH_DEPTH + 1];
    private final boolean[] isArray = new boolean[MAX_PATH_DEPTH + 1];
    private int depth;
    private String fieldName;
    private boolean rootIsObject;
    private boolean rootClosed;
    private boolean failed;

    /**
     * The document's bytes so far while it is no longer than {@link #MAX_STRING_BYTES}: no string in it can be cut
     * yet, so they go to the parser without being followed lexically, and are followed once (from this copy) only if
     * the document grows past that. Most documents (a stream's chunks, a request body) never do.
     */
    private byte[] head;
    private int headLength;
    /** The document has grown past {@link #MAX_STRING_BYTES}: every byte fed is followed lexically. */
    private boolean lexing;

    // Where the bytes fed stand lexically, to find strings and cut the long ones; kept across feeds.
    /** Inside a string (a value or a member name). */
    private boolean inString;
    /** Of an escape sequence: -1 right after its backslash, then the hex digits of a unicode escape still to come. */
    private int escape;
    /** Bytes of the current string so far. */
    private int stringBytes;
    /** The rest of the current string is being dropped. */
    private boolean skipping;
    /** While dropping: the byte before was a backslash, so this one cannot end the string. */
    private boolean skipEscaped;
    /** The next string the parser reports was cut. */
    private boolean cutPending;
    /** The string value being reported was cut. */
    private boolean stringCut;
    /** Bytes dropped since the document began: offsets count them, the parser did not see them. */
    private long skippedInDocument;

    /** A walker of one document. */
    public JsonWalker(Visitor visitor) {
        this(visitor, false);
    }

    /**
     * @param sequence true to read several documents one after another, each begun with {@link #nextDocument()};
     *                 the parser then stays open between them until {@link #close()}
     */
    public JsonWalker(Visitor visitor, boolean sequence) {
        this.visitor = visitor;
        this.sequence = sequence;
        this.memberPaths = sequence ? new HashMap<>() : null;
        this.elementPathsByArray = sequence ? new HashMap<>() : null;
        openParser();
    }

    private void openParser() {
        if (sequence) {
            // a table of the walker's own: dropped with the parser, never merged into the factory's shared one
            symbols = ByteQuadsCanonicalizer.createRoot().makeChild(SEQUENCE_FACTORY.getFactoryFeatures());
            symbolCount = 0;
            symbolChars = 0;
            parser = SEQUENCE_FACTORY.parserWith(symbols);
        } else {
            try {
                parser = FACTORY.createNonBlockingByteArrayParser();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        feeder = (ByteArrayFeeder) parser.getNonBlockingInputFeeder();
        fed = 0;
        documentStart = 0;
    }

    /**
     * Begins the next document of a sequence: the one before is forgotten, whether it ended or not.
     *
     * @throws IllegalStateException when the walker was not made for a sequence
     */
    public void nextDocument() {
        if (!sequence) {
            throw new IllegalStateException("a walker of one document");
        }
        boolean clean = parser != null && rootClosed && !failed && feeder.needMoreInput()
                && symbolCount <= MAX_SYMBOLS && symbolChars <= MAX_SYMBOL_CHARS;
        if (clean) {
            try {
                feeder.feedInput(SEPARATOR, 0, SEPARATOR.length);
                fed += SEPARATOR.length;
                // consumes the separator; a root value closed cleanly, so nothing else can come out
                clean = parser.nextToken() == JsonToken.NOT_AVAILABLE;
            } catch (IOException | RuntimeException e) {
                clean = false;
            }
        }
        if (!clean) {
            closeQuietly();
            openParser();
        }
        documentStart = fed;
        depth = 0;
        fieldName = null;
        rootIsObject = false;
        rootClosed = false;
        failed = false;
        inString = false;
        escape = 0;
        skipping = false;
        skipEscaped = false;
        cutPending = false;
        skippedInDocument = 0;
        headLength = 0;
        lexing = false;
    }

    /** Releases the parser of a sequence; the walk is over. */
    public void close() {
        closeQuietly();
        failed = true;
    }

    /** True while the walk wants more bytes: the root value has not closed and nothing went wrong. */
    public boolean active() {
        return !rootClosed && !failed;
    }

    /** True once the root value has closed. */
    public boolean rootClosed() {
        return rootClosed;
    }

    /** True when the root value is an object (known after its first byte). */
    public boolean rootIsObject() {
        return rootIsObject;
    }

    /** True when the bytes were not JSON, or broke a parser limit. */
    public boolean failed() {
        return failed;
    }

    /**
     * While a string value is reported: whether it was cut, i.e. only its first {@link #MAX_STRING_BYTES} or so
     * were read and the text the parser gives is that beginning.
     */
    public boolean stringCut() {
        return stringCut;
    }

    /**
     * Within a visitor's call: the offset, from the start of the document, of the last byte the parser read; in
     * {@link Visitor#onStart}, that of the opening brace or bracket.
     */
    public long offset() {
        return parser == null ? -1 : parser.currentLocation().getByteOffset() - 1 - documentStart + skippedInDocument;
    }

    /** Feeds {@code len} bytes; does nothing once the walk is over. */
    public void feed(byte[] bytes, int offset, int len) {
        if (!active() || len == 0) {
            return;
        }
        try {
            if (!lexing) {
                if (headLength + len <= MAX_STRING_BYTES) {
                    keepHead(bytes, offset, len);
                    feeder.feedInput(bytes, offset, offset + len);
                    fed += len;
                    drain();
                    return;
                }
                // past the longest string handed whole: from here on strings are followed, from the document's
                // start; the head holds no string long enough to cut, so this finds none
                lexing = true;
                if (headLength > 0 && cutPoint(head, 0, headLength) >= 0) {
                    throw new IllegalStateException("a string cut within " + MAX_STRING_BYTES + " bytes");
                }
            }
            int end = offset + len;
            int from = offset;
            while (from < end && active()) {
                if (skipping) {
                    int close = closingQuote(bytes, from, end);
                    if (close < 0) {
                        skippedInDocument += end - from;
                        return;
                    }
                    // the closing quote goes to the parser, which ends the string with what it had
                    skippedInDocument += close - from;
                    skipping = false;
                    cutPending = true;
                    from = close;
                }
                int cut = cutPoint(bytes, from, end);
                int runEnd = cut < 0 ? end : cut;
                if (runEnd > from) {
                    feeder.feedInput(bytes, from, runEnd);
                    fed += runEnd - from;
                    drain();
                }
                if (cut >= 0) {
                    skipping = true;
                    skipEscaped = false;
                }
                from = runEnd;
            }
        } catch (IOException | RuntimeException e) {
            fail();
        }
    }

    private void keepHead(byte[] bytes, int offset, int len) {
        if (head == null || headLength + len > head.length) {
            byte[] bigger = new byte[Math.min(MAX_STRING_BYTES, Math.max(headLength + len,
                    Math.max(512, head == null ? 0 : head.length * 2)))];
            if (headLength > 0) {
                System.arraycopy(head, 0, bigger, 0, headLength);
            }
            head = bigger;
        }
        System.arraycopy(bytes, offset, head, headLength, len);
        headLength += len;
    }

    /**
     * Follows the bytes lexically from {@code from}, and returns where the current string is to be cut (the index
     * of its first byte not to feed), or -1 when nothing in {@code [from, to)} is to be cut. A cut falls where a
     * character begins and no escape sequence is open, so the parser sees a well-formed, shorter string.
     */
    private int cutPoint(byte[] bytes, int from, int to) {
        int i = from;
        while (i < to) {
            if (!inString) {
                int quote = ByteScan.indexOf(bytes, i, to, (byte) '"');
                if (quote < 0) {
                    return -1;
                }
                inString = true;
                stringBytes = 0;
                i = quote + 1;
            } else if (escape == 0 && stringBytes < MAX_STRING_BYTES) {
                // plain string bytes, up to the next quote or backslash within what may be handed whole
                int stop = (int) Math.min(to, (long) i + MAX_STRING_BYTES - stringBytes);
                int j = i;
                while (j < stop && bytes[j] != '"' && bytes[j] != '\\') {
                    j++;
                }
                stringBytes += j - i;
                i = j;
                if (j < stop) {
                    if (bytes[j] == '"') {
                        inString = false;
                    } else {
                        escape = -1;
                        stringBytes++;
                    }
                    i++;
                }
            } else {
                byte b = bytes[i];
                if (escape != 0) {
                    escape = escape < 0 ? (b == 'u' ? 4 : 0) : escape - 1;
                    stringBytes++;
                } else if (b == '"') {
                    inString = false;
                } else if ((b & 0xC0) != 0x80) {
                    // past the longest string handed whole, where a character begins
                    return i;
                } else {
                    stringBytes++;
                }
                i++;
            }
        }
        return -1;
    }

    /** While dropping the rest of a string: the index of its closing quote in {@code [from, to)}, or -1. */
    private int closingQuote(byte[] bytes, int from, int to) {
        for (int i = from; i < to; i++) {
            if (skipEscaped) {
                skipEscaped = false;
            } else if (bytes[i] == '\\') {
                skipEscaped = true;
            } else if (bytes[i] == '"') {
                return i;
            }
        }
        return -1;
    }

    /** Tells the walker that no more bytes will come. */
    public void endOfInput() {
        if (!active()) {
            return;
        }
        try {
            feeder.endOfInput();
            drain();
        } catch (IOException | RuntimeException e) {
            fail();
        }
    }

    private void fail() {
        failed = true;
        closeQuietly();
    }

    private void closeQuietly() {
        if (parser == null) {
            return;
        }
        try {
            parser.close();
        } catch (IOException ignored) {
            // nothing held but recycled buffers
        }
        parser = null;
        feeder = null;
        symbols = null;
    }

    private void drain() throws IOException {
        JsonToken token;
        while (active() && (token = parser.nextToken()) != null && token != JsonToken.NOT_AVAILABLE) {
            onToken(token);
        }
    }

    private void onToken(JsonToken token) throws IOException {
        switch (token) {
            // a cut name is no name the taps read: its value goes unreported
            case FIELD_NAME -> {
                if (symbols != null && symbols.size() != symbolCount) {
                    // a name the table had not seen: it keeps it for the parser's life
                    symbolCount = symbols.size();
                    symbolChars += parser.currentName().length();
                    if (symbolCount > 2 * MAX_SYMBOLS || symbolChars > 2 * MAX_SYMBOL_CHARS) {
                        // one document of ever new names: stop reading it rather than let the table grow with it;
                        // vLLM sends nothing like it, and the next document starts on a fresh table
                        fail();
                        return;
                    }
                }
                boolean cut = takeCut();
                fieldName = depth <= MAX_PATH_DEPTH && !cut ? parser.currentName() : null;
            }
            case START_OBJECT, START_ARRAY -> {
                if (depth == 0) {
                    rootIsObject = token == JsonToken.START_OBJECT;
                }
                String path = pathOfValue();
                countMember();
                depth++;
                if (depth <= MAX_PATH_DEPTH) {
                    paths[depth] = path;
                    members[depth] = 0;
                    isArray[depth] = token == JsonToken.START_ARRAY;
                    elementPaths[depth] = isArray[depth] && path != null && !path.isEmpty() ? elementPath(path) : null;
                }
                if (path != null) {
                    visitor.onStart(path, token);
                }
            }
            case END_OBJECT, END_ARRAY -> {
                String path = depth <= MAX_PATH_DEPTH ? paths[depth] : null;
                boolean empty = depth <= MAX_PATH_DEPTH && members[depth] == 0;
                // the closing byte is the last one read: the non-blocking parser's token location would point
                // at the whitespace before it, if any
                long offset = parser.currentLocation().getByteOffset() - 1 - documentStart + skippedInDocument;
                depth--;
                fieldName = null;
                if (path != null) {
                    visitor.onEnd(path, token, empty, offset);
                }
                if (depth == 0) {
                    rootClosed = true;
                    if (!sequence) {
                        closeQuietly();
                    }
                }
            }
            default -> {
                if (depth == 0) {
                    // a bare scalar at the root: a complete document, but not one we read; in a sequence the
                    // parser may not know yet where it ends, so the next document gets a fresh one
                    rootClosed = true;
                    if (sequence) {
                        failed = true;
                    }
                    closeQuietly();
                    return;
                }
                String path = pathOfValue();
                countMember();
                stringCut = token == JsonToken.VALUE_STRING && takeCut();
                if (path != null) {
                    visitor.onScalar(path, token, parser);
                }
                stringCut = false;
            }
        }
    }

    /** Whether the string just completed was cut; the next one starts afresh. */
    private boolean takeCut() {
        boolean cut = cutPending;
        cutPending = false;
        return cut;
    }

    private void countMember() {
        if (depth > 0 && depth <= MAX_PATH_DEPTH) {
            members[depth]++;
        }
    }

    /** The path of the value about to be read, or null when it is deeper than we report. */
    private String pathOfValue() {
        if (depth == 0) {
            return "";
        }
        if (depth > MAX_PATH_DEPTH) {
            return null;
        }
        String parent = paths[depth];
        if (parent == null) {
            return null;
        }
        if (isArray[depth]) {
            // every element of an array has the same path, e.g. choices[] and choices[].index
            return elementPaths[depth];
        }
        if (fieldName == null) {
            return null;
        }
        if (parent.isEmpty()) {
            return fieldName;
        }
        if (memberPaths == null) {
            return parent + '.' + fieldName;
        }
        Map<String, String> members = memberPaths.get(parent);
        String path = members == null ? null : members.get(fieldName);
        if (path == null) {
            path = parent + '.' + fieldName;
            if (pathsKept < MAX_PATHS_KEPT) {
                memberPaths.computeIfAbsent(parent, p -> new HashMap<>()).put(fieldName, path);
                pathsKept++;
            }
        }
        return path;
    }

    private String elementPath(String arrayPath) {
        if (elementPathsByArray == null) {
            return arrayPath + "[]";
        }
        String path = elementPathsByArray.get(arrayPath);
        if (path == null) {
            path = arrayPath + "[]";
            if (pathsKept < MAX_PATHS_KEPT) {
                elementPathsByArray.put(arrayPath, path);
                pathsKept++;
            }
        }
        return path;
    }
}
