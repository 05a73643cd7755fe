package dev.tokentap.proxy.usage;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
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
     * Strings longer than this (e.g. a huge inline image) end the walk as malformed; the bytes still flow.
     * The parser has to hold a whole string token in memory, so this bounds what one request can cost.
     */
    static final int MAX_STRING_LENGTH = 64 * 1024 * 1024;

    /** Paths remembered: far more than an OpenAI object has, and a bound for anything else. */
    private static final int MAX_PATHS_KEPT = 256;

    static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(MAX_STRING_LENGTH).build())
            .build();

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
        try {
            parser = FACTORY.createNonBlockingByteArrayParser();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
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
        boolean clean = parser != null && rootClosed && !failed && feeder.needMoreInput();
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

    /** Feeds {@code len} bytes; does nothing once the walk is over. */
    public void feed(byte[] bytes, int offset, int len) {
        if (!active() || len == 0) {
            return;
        }
        try {
            feeder.feedInput(bytes, offset, offset + len);
            fed += len;
            drain();
        } catch (IOException | RuntimeException e) {
            fail();
        }
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
    }

    private void drain() throws IOException {
        JsonToken token;
        while (active() && (token = parser.nextToken()) != null && token != JsonToken.NOT_AVAILABLE) {
            onToken(token);
        }
    }

    private void onToken(JsonToken token) throws IOException {
        switch (token) {
            case FIELD_NAME -> fieldName = depth <= MAX_PATH_DEPTH ? parser.currentName() : null;
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
                long offset = parser.currentLocation().getByteOffset() - 1 - documentStart;
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
                if (path != null) {
                    visitor.onScalar(path, token, parser);
                }
            }
        }
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
