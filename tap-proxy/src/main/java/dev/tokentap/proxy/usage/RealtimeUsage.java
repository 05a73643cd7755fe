package dev.tokentap.proxy.usage;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.tokentap.event.UsageEvent;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;

/**
 * The tap on one realtime WebSocket session (vLLM's {@code /v1/realtime}): reads, from the JSON text messages that
 * pass both ways, the session id ({@code session.created}), the model the client asks for ({@code session.update})
 * and the usage of every finished generation ({@code transcription.done}), whose sum is the session's usage. Messages
 * are fed frame by frame as they pass and never held: each direction has a {@link JsonWalker}, so a long transcript
 * or a large audio chunk costs no more memory than a short one.
 *
 * <p>vLLM's shapes (speech_to_text/realtime, commit 52a31cce): the server sends {@code session.created}
 * {@code {"type","id","created"}}, {@code transcription.delta} {@code {"type","delta"}}, and once per generation
 * {@code transcription.done} {@code {"type","text","usage":{"prompt_tokens","total_tokens","completion_tokens",
 * "prompt_tokens_details"}}}; a generation cut by a disconnect sends no {@code done}, and no usage for it.
 *
 * <p>Each direction is fed by one thread at a time (a session's frames come one after another); the results are
 * read when the session has ended.
 */
public final class RealtimeUsage {

    static final String SESSION_CREATED = "session.created";
    static final String SESSION_UPDATE = "session.update";
    static final String DELTA = "transcription.delta";
    static final String DONE = "transcription.done";
    private static final BigDecimal MAX_USAGE = BigDecimal.valueOf(UsageEvent.MAX_USAGE);

    private final Direction server = new Direction(true);
    private final Direction client = new Direction(false);

    private volatile String sessionId;
    private volatile String model;
    private volatile long prompt;
    private volatile long completion;
    private volatile long total;
    private volatile Long cached;
    private volatile int generationsDone;
    private volatile boolean invalid;
    private volatile boolean generationOpen;
    private volatile boolean errorSeen;

    /** A piece of a text message from the upstream; {@code last} when it ends the message. */
    public void serverText(ByteBuffer payload, boolean last) {
        server.feed(payload, last);
    }

    /** A piece of a text message from the client; {@code last} when it ends the message. */
    public void clientText(ByteBuffer payload, boolean last) {
        client.feed(payload, last);
    }

    /** Lets both parsers go; nothing more is read. */
    public void close() {
        server.walker.close();
        client.walker.close();
    }

    /** The {@code id} of vLLM's {@code session.created}, or null. */
    public String sessionId() {
        return sessionId;
    }

    /** The {@code model} of the client's last {@code session.update}, or null. */
    public String model() {
        return model;
    }

    /** How many generations ended with a {@code transcription.done} carrying usage. */
    public int generationsDone() {
        return generationsDone;
    }

    /** Whether a generation had begun (a delta came) after the last {@code transcription.done}: its tokens are unknown. */
    public boolean generationCut() {
        return generationOpen;
    }

    /** Whether vLLM sent an {@code error} event; the session goes on after one. */
    public boolean errorSeen() {
        return errorSeen;
    }

    /**
     * The sum of the usage of every {@code transcription.done}; null when none came; {@link ResponseFacts.Usage#INVALID}
     * when any held something that is not a count or the sum passed {@link UsageEvent#MAX_USAGE}.
     */
    public ResponseFacts.Usage usage() {
        if (invalid) {
            return ResponseFacts.Usage.INVALID;
        }
        if (generationsDone == 0) {
            return null;
        }
        return new ResponseFacts.Usage(prompt, completion, total, cached, null, true, null);
    }

    private void done(Long p, Long c, Long t, Long cachedTokens, boolean bad) {
        generationOpen = false;
        if (bad || p == null && c == null && t == null) {
            invalid |= bad;
            return;
        }
        long np = prompt + (p == null ? 0 : p);
        long nc = completion + (c == null ? 0 : c);
        long nt = total + (t != null ? t : (p == null ? 0 : p) + (c == null ? 0 : c));
        // each at most MAX_USAGE: a sum past it is flagged long before a long could overflow
        if (np > UsageEvent.MAX_USAGE || nc > UsageEvent.MAX_USAGE || nt > UsageEvent.MAX_USAGE) {
            invalid = true;
            return;
        }
        prompt = np;
        completion = nc;
        total = nt;
        if (cachedTokens != null) {
            cached = (cached == null ? 0 : cached) + cachedTokens;
        }
        generationsDone++;
    }

    /** The messages of one direction, one {@link JsonWalker} for all of them. */
    private final class Direction implements JsonWalker.Visitor {
        private final boolean fromServer;
        private final JsonWalker walker = new JsonWalker(this, true);
        private boolean inMessage;
        private boolean begun;
        // what the message read so far holds
        private String type;
        private String id;
        private String messageModel;
        private boolean usageObject;
        private Long p;
        private Long c;
        private Long t;
        private Long cachedTokens;
        private boolean bad;

        Direction(boolean fromServer) {
            this.fromServer = fromServer;
        }

        void feed(ByteBuffer payload, boolean last) {
            if (!inMessage) {
                if (begun) {
                    walker.nextDocument();
                }
                begun = true;
                inMessage = true;
                type = id = messageModel = null;
                usageObject = bad = false;
                p = c = t = cachedTokens = null;
            }
            int length = payload.remaining();
            if (length > 0) {
                if (payload.hasArray()) {
                    walker.feed(payload.array(), payload.arrayOffset() + payload.position(), length);
                } else {
                    walker.feed(ThreadScratch.copyOf(payload), 0, length);
                }
            }
            if (last) {
                inMessage = false;
                walker.endOfInput();
                if (walker.rootClosed() && walker.rootIsObject() && !walker.failed() && type != null) {
                    message();
                }
            }
        }

        private void message() {
            if (!fromServer) {
                if (SESSION_UPDATE.equals(type) && messageModel != null) {
                    model = messageModel;
                }
                return;
            }
            switch (type) {
                case SESSION_CREATED -> {
                    if (sessionId == null) {
                        sessionId = id;
                    }
                }
                case DELTA -> generationOpen = true;
                case DONE -> {
                    if (usageObject) {
                        done(p, c, t, cachedTokens, bad);
                    } else {
                        generationOpen = false;
                    }
                }
                case "error" -> errorSeen = true;
                default -> {
                    // other events carry no usage
                }
            }
        }

        @Override
        public void onStart(String path, JsonToken token) {
            if ("usage".equals(path) && token == JsonToken.START_OBJECT) {
                usageObject = true;
            }
        }

        @Override
        public void onScalar(String path, JsonToken token, JsonParser parser) throws IOException {
            switch (path) {
                case "type" -> type = token == JsonToken.VALUE_STRING && !walker.stringCut() ? parser.getText() : null;
                case "id" -> id = token == JsonToken.VALUE_STRING && !walker.stringCut() ? parser.getText() : null;
                case "model" -> messageModel = token == JsonToken.VALUE_STRING && !walker.stringCut()
                        ? parser.getText() : null;
                case "usage.prompt_tokens" -> p = number(token, parser);
                case "usage.completion_tokens" -> c = number(token, parser);
                case "usage.total_tokens" -> t = number(token, parser);
                case "usage.prompt_tokens_details.cached_tokens" -> cachedTokens = number(token, parser);
                default -> {
                    // not ours to read: the transcript, the audio
                }
            }
        }

        /** A count, or null when not reported; anything else marks the usage invalid (as {@link UsageExtractor}). */
        private Long number(JsonToken token, JsonParser parser) {
            if (token == JsonToken.VALUE_NULL) {
                return null;
            }
            try {
                if (token == JsonToken.VALUE_NUMBER_INT || token == JsonToken.VALUE_NUMBER_FLOAT) {
                    BigDecimal value = parser.getDecimalValue();
                    if (value.signum() >= 0 && value.compareTo(MAX_USAGE) <= 0
                            && value.stripTrailingZeros().scale() <= 0) {
                        return value.longValueExact();
                    }
                }
            } catch (IOException | ArithmeticException | NumberFormatException e) {
                // a number too odd to read is no count either
            }
            bad = true;
            return null;
        }
    }
}
