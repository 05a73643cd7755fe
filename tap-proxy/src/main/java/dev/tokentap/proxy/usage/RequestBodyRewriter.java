package dev.tokentap.proxy.usage;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Reads {@code model}, {@code stream}, {@code stream_options} and {@code user} out of an OpenAI completions or chat
 * request body as it streams to the upstream, and asks for usage when a streaming client did not: it splices
 * {@link #INJECTED_STREAM_OPTIONS} in front of the closing brace of the top-level object. Every other byte passes
 * untouched, and nothing is held back except what a single call is given. Anything that is not a JSON object passes
 * untouched, and then only what was read before the trouble is known.
 *
 * <p>One instance per request; not thread-safe (the proxy calls it from one read loop at a time).
 */
public final class RequestBodyRewriter {

    /**
     * What the proxy adds by default when a streaming client sent no {@code stream_options}: vLLM then sends a
     * cumulative {@code usage} in every chunk and a final chunk with {@code "choices":[]} and the request's usage,
     * all of which {@link SseResponseTap} removes again. The running usage is what a stream that ends early is
     * billed by.
     */
    public static final String INJECTED_STREAM_OPTIONS =
            "\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true}";

    /** What the proxy adds with continuous usage turned off: only the final usage chunk. */
    public static final String INJECTED_INCLUDE_USAGE = "\"stream_options\":{\"include_usage\":true}";

    private final JsonWalker walker = new JsonWalker(new Fields());
    private final byte[] injection;
    private final boolean continuous;
    private long consumed;
    private long closingBraceAt = -1;
    // read by the thread that handles the response, and when the exchange ends
    private volatile boolean injected;
    private volatile String model;
    private volatile Boolean stream;
    private volatile boolean streamOptionsPresent;
    private volatile String user;
    private boolean fakeStream;
    private int topLevelMembers;
    /** The route whose request shape the body has; for {@code /invocations}, decided by the body (see below). */
    private final String route;
    private volatile boolean hasMessages;
    private volatile boolean hasPrompt;
    private volatile long tokenIds;

    /** A rewriter that may inject {@link #INJECTED_STREAM_OPTIONS}. */
    public RequestBodyRewriter() {
        this(INJECTED_STREAM_OPTIONS);
    }

    /** @param injectionAllowed false to only read the body */
    public RequestBodyRewriter(boolean injectionAllowed) {
        this(injectionAllowed ? INJECTED_STREAM_OPTIONS : null);
    }

    /**
     * @param streamOptions the member to add to a streaming request without {@code stream_options}
     *                      ({@link #INJECTED_STREAM_OPTIONS} or {@link #INJECTED_INCLUDE_USAGE}); null to only read
     */
    public RequestBodyRewriter(String streamOptions) {
        this(MeteredRoutes.CHAT_COMPLETIONS, streamOptions);
    }

    private RequestBodyRewriter(String route, String streamOptions) {
        this.route = route;
        this.injection = streamOptions == null ? null : (',' + streamOptions).getBytes(StandardCharsets.US_ASCII);
        this.continuous = streamOptions != null && streamOptions.contains("continuous_usage_stats");
    }

    /**
     * The rewriter of a request to {@code route}: one that may add {@code streamOptions} to a stream on the routes
     * whose streams report usage only when asked (chat, completions, and {@code /invocations} bodies that are one of
     * them), one that only reads on every other route.
     */
    public static RequestBodyRewriter forRoute(String route, String streamOptions) {
        boolean asks = MeteredRoutes.takesStreamOptions(route) || dev.tokentap.event.Routes.INVOCATIONS.equals(route);
        return new RequestBodyRewriter(route, asks ? streamOptions : null);
    }

    /**
     * The route whose handler answers this request, as vLLM's {@code /invocations} decides it: a body with
     * {@code messages} is a chat request, else one with {@code prompt} a completions request, else a pooling one
     * (null). On any other route, the route itself.
     */
    public String bodyRoute() {
        if (!dev.tokentap.event.Routes.INVOCATIONS.equals(route)) {
            return route;
        }
        return hasMessages ? MeteredRoutes.CHAT_COMPLETIONS : hasPrompt ? MeteredRoutes.COMPLETIONS : null;
    }

    /** How many elements the top-level {@code token_ids} array held: the prompt of a generate request. */
    public long tokenIds() {
        return tokenIds;
    }

    /** Whether what was injected asks for a {@code usage} in every chunk, which the client must not see either. */
    public boolean injectedContinuousUsage() {
        return injected && continuous;
    }

    /**
     * Passes {@code input} on to {@code output}, with the injection spliced in when this piece holds the closing
     * brace and the request asks for a stream without {@code stream_options}. Output buffers are slices of the
     * input or shared constants: they stay valid for as long as the input does.
     */
    public void transform(ByteBuffer input, boolean finished, List<ByteBuffer> output) {
        int length = input.remaining();
        if (!walker.active() || length == 0) {
            if (length > 0) {
                output.add(input);
            }
            if (finished) {
                walker.endOfInput();
            }
            return;
        }
        long start = consumed;
        consumed += length;
        byte[] bytes;
        int offset;
        if (input.hasArray()) {
            bytes = input.array();
            offset = input.arrayOffset() + input.position();
        } else {
            bytes = ThreadScratch.copyOf(input);
            offset = 0;
        }
        closingBraceAt = -1;
        walker.feed(bytes, offset, length);
        if (finished) {
            walker.endOfInput();
        }
        if (closingBraceAt >= 0 && shouldInject()) {
            int split = (int) (closingBraceAt - start);
            ByteBuffer head = input.duplicate();
            head.limit(head.position() + split);
            ByteBuffer tail = input.duplicate();
            tail.position(tail.position() + split);
            output.add(head);
            output.add(ByteBuffer.wrap(injection).asReadOnlyBuffer());
            output.add(tail);
            injected = true;
        } else {
            output.add(input);
        }
    }

    private boolean shouldInject() {
        String target = bodyRoute();
        // a completions beam search is no stream: older vLLM answers it whole, usage included, in one event, the
        // current one refuses it; a chat beam search streams like any chat
        boolean unstreamed = fakeStream && MeteredRoutes.COMPLETIONS.equals(target);
        return injection != null && target != null && Boolean.TRUE.equals(stream) && !streamOptionsPresent
                && !unstreamed && topLevelMembers > 0;
    }

    /** The request's {@code model}, when it is a string. */
    public String model() {
        return model;
    }

    /** Whether the request asked for a stream ({@code "stream": true}). */
    public boolean stream() {
        return Boolean.TRUE.equals(stream);
    }

    /** Whether the request carries a {@code stream_options} key (whatever its value). */
    public boolean streamOptionsPresent() {
        return streamOptionsPresent;
    }

    /** The request's {@code user}, when it is a string. */
    public String user() {
        return user;
    }

    /** Whether {@link #INJECTED_STREAM_OPTIONS} was added to the body. */
    public boolean injected() {
        return injected;
    }

    /** Whether the body was read to the end of a top-level JSON object. */
    public boolean complete() {
        return walker.rootClosed() && walker.rootIsObject();
    }

    private final class Fields implements JsonWalker.Visitor {
        @Override
        public void onStart(String path, JsonToken token) {
            if (isTopLevelKey(path)) {
                topLevelMembers++;
                switch (path) {
                    case "stream_options" -> streamOptionsPresent = true;
                    case "messages" -> hasMessages = true;
                    case "prompt" -> hasPrompt = true;
                    default -> {
                        // not ours to read
                    }
                }
            }
        }

        @Override
        public void onScalar(String path, JsonToken token, JsonParser parser) throws IOException {
            if (path.equals("token_ids[]")) {
                tokenIds++;
                return;
            }
            if (!isTopLevelKey(path)) {
                return;
            }
            topLevelMembers++;
            switch (path) {
                // a cut value is not the model, only its beginning
                case "model" -> model = token == JsonToken.VALUE_STRING && !walker.stringCut() ? parser.getText() : null;
                case "stream" -> stream = token == JsonToken.VALUE_TRUE ? Boolean.TRUE
                        : token == JsonToken.VALUE_FALSE ? Boolean.FALSE : null;
                case "stream_options" -> streamOptionsPresent = true;
                // a string prompt; a list is an array, which onStart sees
                case "prompt" -> hasPrompt = token != JsonToken.VALUE_NULL;
                case "user" -> user = token == JsonToken.VALUE_STRING ? parser.getText() : null;
                case "use_beam_search" -> fakeStream = token == JsonToken.VALUE_TRUE;
                default -> {
                    // not ours to read
                }
            }
        }

        @Override
        public void onEnd(String path, JsonToken token, boolean empty, long byteOffset) {
            if (path.isEmpty() && token == JsonToken.END_OBJECT) {
                closingBraceAt = byteOffset;
            }
        }

        private boolean isTopLevelKey(String path) {
            return !path.isEmpty() && path.indexOf('.') < 0;
        }
    }
}
