package dev.tokentap.proxy.usage;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * Walks one JSON document that arrives in pieces, through Jackson's non-blocking parser, and reports the shallow
 * parts of it (up to {@link #MAX_PATH_DEPTH} levels) by dotted path, e.g. {@code usage.prompt_tokens}. The caller
 * keeps ownership of the bytes: nothing fed is retained after {@link #feed} returns. Array elements are reported
 * without their index: {@code choices[]}, {@code choices[].index}.
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

    private final Visitor visitor;
    /** Null once the walk is over: the owner may live as long as its exchange, the parser's tables need not. */
    private JsonParser parser;
    private ByteArrayFeeder feeder;
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

    public JsonWalker(Visitor visitor) {
        this.visitor = visitor;
        try {
            this.parser = FACTORY.createNonBlockingByteArrayParser();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.feeder = (ByteArrayFeeder) parser.getNonBlockingInputFeeder();
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
                    elementPaths[depth] = isArray[depth] && path != null && !path.isEmpty() ? path + "[]" : null;
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
                long offset = parser.currentLocation().getByteOffset() - 1;
                depth--;
                fieldName = null;
                if (path != null) {
                    visitor.onEnd(path, token, empty, offset);
                }
                if (depth == 0) {
                    rootClosed = true;
                    closeQuietly();
                }
            }
            default -> {
                if (depth == 0) {
                    // a bare scalar at the root: a complete document, but not one we read
                    rootClosed = true;
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
        return parent.isEmpty() ? fieldName : parent + '.' + fieldName;
    }
}
