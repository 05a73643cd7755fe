package dev.tokentap.proxy.usage;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.tokentap.event.Routes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Reads {@code model}, {@code stream}, {@code stream_options} and {@code user} out of an OpenAI completions or chat
 * request body as it streams to the upstream, and makes every stream report usage whatever the client sent: it
 * splices a {@code stream_options} member asking for usage in front of the closing brace of the top-level object.
 * Every other byte passes untouched, and nothing is held back except what a single call is given. Anything that is
 * not a JSON object passes untouched, and then only what was read before the trouble is known.
 *
 * <p>{@code stream} is read as vLLM reads it (pydantic's lax booleans, {@link LaxBool}), and the member is added
 * only when it is true: vLLM refuses {@code stream_options} on a request that is not a stream. When the client sent
 * {@code stream_options} itself (an object or {@code null}), the added member comes after it and carries the
 * client's own members first, then {@code include_usage} and {@code continuous_usage_stats}: vLLM reads the body
 * with Python's {@code json}, which keeps the last of repeated names, so it sees the client's options with usage
 * turned on. A {@code stream_options} vLLM would refuse (not an object, a flag that is not a lax boolean) is left
 * alone, and so is the request: vLLM answers it as it would have.
 *
 * <p>One instance per request; not thread-safe (the proxy calls it from one read loop at a time).
 */
public final class RequestBodyRewriter {

    /**
     * What the proxy adds by default when a streaming client sent no {@code stream_options}: vLLM then sends a
     * cumulative {@code usage} in every chunk and a final chunk with {@code "choices":[]} and the request's usage,
     * which {@link SseResponseTap} removes again as far as the client would not have had them. The running usage is
     * what a stream that ends early is billed by.
     */
    public static final String INJECTED_STREAM_OPTIONS =
            "\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true}";

    /** What the proxy adds with continuous usage turned off: only the final usage chunk. */
    public static final String INJECTED_INCLUDE_USAGE = "\"stream_options\":{\"include_usage\":true}";

    /** The most of the client's own {@code stream_options} object kept: vLLM reads none of its other members. */
    static final int MAX_CLIENT_OPTIONS_BYTES = 4096;

    private static final byte[] MEMBER_OPEN = ",\"stream_options\":{".getBytes(StandardCharsets.US_ASCII);

    private enum Options { ABSENT, NULL, OBJECT, INVALID }

    private final JsonWalker walker = new JsonWalker(new Fields());
    /** What goes inside the added object, e.g. {@code "include_usage":true}; null to only read. */
    private final byte[] usageMembers;
    private final boolean continuous;
    /** The route the request was sent to; on {@code /invocations} the body decides whose policy applies. */
    private final String route;
    /** The route's policy; unused on {@code /invocations}, where {@link #policy()} asks the body. */
    private final StreamUsagePolicy routePolicy;
    private boolean beamSearch;
    private long consumed;
    private long closingBraceAt = -1;
    // the piece being walked, for copying the client's stream_options out of it
    private byte[] pieceBytes;
    private int pieceOffset;
    private long pieceStart;
    private long captureFrom = -1;
    private byte[] captured = new byte[0];
    private int capturedLength;
    private boolean captureOverflow;
    // read by the thread that handles the response, and when the exchange ends
    private volatile boolean injected;
    private volatile String model;
    private volatile LaxBool stream;
    private volatile Options options = Options.ABSENT;
    private volatile LaxBool includeUsage;
    private volatile LaxBool continuousUsage;
    private volatile String user;
    private int topLevelMembers;
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
     * @param streamOptions the member to add to a streaming request ({@link #INJECTED_STREAM_OPTIONS} or
     *                      {@link #INJECTED_INCLUDE_USAGE}); null to only read
     */
    public RequestBodyRewriter(String streamOptions) {
        this(MeteredRoutes.CHAT_COMPLETIONS, streamOptions, StreamUsagePolicy.CHAT);
    }

    /**
     * @param streamOptions as above
     * @param policy        the route's, or null to only read
     */
    public RequestBodyRewriter(String streamOptions, StreamUsagePolicy policy) {
        this(null, policy == null ? null : streamOptions, policy);
    }

    /**
     * The rewriter of a request to {@code route}: one that may add {@code streamOptions} to a stream of a route with
     * a {@link MeteredRoutes#streamUsagePolicy policy}, or of {@code /invocations} when its body turns out to be a
     * request of such a route (decided at the body's end, before anything is added); one that only reads otherwise.
     */
    public static RequestBodyRewriter forRoute(String route, String streamOptions) {
        if (Routes.INVOCATIONS.equals(route)) {
            return new RequestBodyRewriter(route, streamOptions, null);
        }
        StreamUsagePolicy policy = MeteredRoutes.streamUsagePolicy(route);
        return new RequestBodyRewriter(route, policy == null ? null : streamOptions, policy);
    }

    private RequestBodyRewriter(String route, String streamOptions, StreamUsagePolicy routePolicy) {
        this.route = route;
        this.routePolicy = routePolicy;
        if (streamOptions == null) {
            this.usageMembers = null;
        } else {
            int open = streamOptions.indexOf('{');
            this.usageMembers = streamOptions.substring(open + 1, streamOptions.lastIndexOf('}'))
                    .getBytes(StandardCharsets.US_ASCII);
        }
        this.continuous = streamOptions != null && streamOptions.contains("continuous_usage_stats");
    }

    /**
     * The route whose handler answers this request, as vLLM's {@code /invocations} decides it: a body with
     * {@code messages} is a chat request, else one with {@code prompt} a completions request, else a pooling one
     * (null). On any other route, the route itself.
     */
    public String bodyRoute() {
        if (!Routes.INVOCATIONS.equals(route)) {
            return route;
        }
        return hasMessages ? MeteredRoutes.CHAT_COMPLETIONS : hasPrompt ? MeteredRoutes.COMPLETIONS : null;
    }

    /** The stream usage policy that applies: the route's, or on {@code /invocations} that of the body's route. */
    public StreamUsagePolicy policy() {
        return Routes.INVOCATIONS.equals(route) ? MeteredRoutes.streamUsagePolicy(bodyRoute()) : routePolicy;
    }

    /** How many elements the top-level {@code token_ids} array held: the prompt of a generate request. */
    public long tokenIds() {
        return tokenIds;
    }

    /** Whether what was injected asks for a {@code usage} in every chunk. */
    public boolean injectedContinuousUsage() {
        return injected && continuous;
    }

    /**
     * Passes {@code input} on to {@code output}, with the member spliced in when this piece holds the closing brace
     * and the request asks for a stream. Output buffers are slices of the input or fresh arrays: they stay valid
     * for as long as the input does.
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
        pieceBytes = bytes;
        pieceOffset = offset;
        pieceStart = start;
        closingBraceAt = -1;
        walker.feed(bytes, offset, length);
        if (finished) {
            walker.endOfInput();
        }
        if (captureFrom >= 0) {
            // the client's stream_options goes on in the next piece
            capture(captureFrom, consumed);
        }
        pieceBytes = null;
        if (closingBraceAt >= 0 && shouldInject()) {
            int split = (int) (closingBraceAt - start);
            ByteBuffer head = input.duplicate();
            head.limit(head.position() + split);
            ByteBuffer tail = input.duplicate();
            tail.position(tail.position() + split);
            output.add(head);
            output.add(ByteBuffer.wrap(member()).asReadOnlyBuffer());
            output.add(tail);
            injected = true;
        } else {
            output.add(input);
        }
    }

    /** {@code ,"stream_options":{<the client's members,>"include_usage":true...}}. */
    private byte[] member() {
        byte[] clientMembers = clientMembers();
        int length = MEMBER_OPEN.length + clientMembers.length + (clientMembers.length > 0 ? 1 : 0)
                + usageMembers.length + 1;
        byte[] member = Arrays.copyOf(MEMBER_OPEN, length);
        int at = MEMBER_OPEN.length;
        if (clientMembers.length > 0) {
            System.arraycopy(clientMembers, 0, member, at, clientMembers.length);
            at += clientMembers.length;
            member[at++] = ',';
        }
        System.arraycopy(usageMembers, 0, member, at, usageMembers.length);
        at += usageMembers.length;
        member[at] = '}';
        return member;
    }

    /** The inside of the client's {@code stream_options} object, trimmed; empty when there is none to keep. */
    private byte[] clientMembers() {
        if (options != Options.OBJECT || captureOverflow || capturedLength < 2) {
            return new byte[0];
        }
        int from = 1;
        int to = capturedLength - 1;
        while (from < to && isSpace(captured[from])) {
            from++;
        }
        while (to > from && isSpace(captured[to - 1])) {
            to--;
        }
        return Arrays.copyOfRange(captured, from, to);
    }

    private static boolean isSpace(byte b) {
        return b == ' ' || b == '\t' || b == '\r' || b == '\n';
    }

    /** Copies the client's bytes {@code [from, to)} (document offsets) that lie in the current piece. */
    private void capture(long from, long to) {
        long start = Math.max(from, pieceStart);
        int count = (int) (to - start);
        if (count <= 0 || captureOverflow) {
            return;
        }
        if (capturedLength + count > MAX_CLIENT_OPTIONS_BYTES) {
            captureOverflow = true;
            return;
        }
        if (capturedLength + count > captured.length) {
            captured = Arrays.copyOf(captured, Math.max(capturedLength + count, 64));
        }
        System.arraycopy(pieceBytes, pieceOffset + (int) (start - pieceStart), captured, capturedLength, count);
        capturedLength += count;
    }

    private boolean shouldInject() {
        // a client that asked for all the proxy would ask for needs nothing added, on either generation
        boolean askedAll = options == Options.OBJECT && includeUsage == LaxBool.TRUE
                && (continuousUsage == LaxBool.TRUE || !continuous);
        StreamUsagePolicy policy = policy();
        return !askedAll && usageMembers != null && policy != null && stream == LaxBool.TRUE
                && (policy.beamSearchStreams() || !beamSearch)
                && options != Options.INVALID && includeUsage != LaxBool.INVALID && continuousUsage != LaxBool.INVALID
                && topLevelMembers > 0;
    }

    /** The request's {@code model}, when it is a string. */
    public String model() {
        return model;
    }

    /** Whether the request asked for a stream, read as vLLM reads {@code stream}. */
    public boolean stream() {
        return stream == LaxBool.TRUE;
    }

    /** Whether the request carries a {@code stream_options} key (whatever its value). */
    public boolean streamOptionsPresent() {
        return options != Options.ABSENT;
    }

    /** What the client asked of usage in {@code stream_options}, as vLLM reads it. */
    public ClientStreamOptions clientStreamOptions() {
        return options == Options.OBJECT ? new ClientStreamOptions(true, includeUsage, continuousUsage)
                : ClientStreamOptions.NONE;
    }

    /** The request's {@code user}, when it is a string. */
    public String user() {
        return user;
    }

    /** Whether a {@code stream_options} member was added to the body. */
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
                if (path.equals("messages")) {
                    hasMessages = true;
                } else if (path.equals("prompt")) {
                    hasPrompt = true;
                }
                if (path.equals("stream_options")) {
                    if (token == JsonToken.START_OBJECT) {
                        // a repeated name: the last one counts, in vLLM as here
                        options = Options.OBJECT;
                        includeUsage = null;
                        continuousUsage = null;
                        capturedLength = 0;
                        captureOverflow = false;
                        captureFrom = walker.offset();
                    } else {
                        options = Options.INVALID;
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
            if (options == Options.OBJECT && captureFrom >= 0) {
                switch (path) {
                    case "stream_options.include_usage" -> includeUsage = LaxBool.of(token, parser);
                    case "stream_options.continuous_usage_stats" -> continuousUsage = LaxBool.of(token, parser);
                    default -> {
                        // vLLM reads no other member
                    }
                }
            }
            if (!isTopLevelKey(path)) {
                return;
            }
            topLevelMembers++;
            switch (path) {
                // a cut value is not the model, only its beginning
                case "model" -> model = token == JsonToken.VALUE_STRING && !walker.stringCut() ? parser.getText() : null;
                // a string prompt; a list is an array, which onStart sees
                case "prompt" -> hasPrompt = token != JsonToken.VALUE_NULL;
                case "stream" -> stream = LaxBool.of(token, parser);
                case "stream_options" -> {
                    options = token == JsonToken.VALUE_NULL ? Options.NULL : Options.INVALID;
                    includeUsage = null;
                    continuousUsage = null;
                }
                case "user" -> user = token == JsonToken.VALUE_STRING ? parser.getText() : null;
                case "use_beam_search" -> beamSearch = LaxBool.of(token, parser) == LaxBool.TRUE;
                default -> {
                    // not ours to read
                }
            }
        }

        @Override
        public void onEnd(String path, JsonToken token, boolean empty, long byteOffset) {
            if (path.isEmpty() && token == JsonToken.END_OBJECT) {
                closingBraceAt = byteOffset;
            } else if (path.equals("stream_options") && captureFrom >= 0) {
                capture(captureFrom, byteOffset + 1);
                captureFrom = -1;
            }
        }

        private boolean isTopLevelKey(String path) {
            return !path.isEmpty() && path.indexOf('.') < 0;
        }
    }
}
