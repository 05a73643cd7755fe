package dev.tokentap.proxy.usage;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.tokentap.event.UsageEvent;
import java.io.IOException;
import java.math.BigDecimal;
import java.util.Set;

/**
 * Reads one OpenAI response object (a JSON body, or the JSON of one stream event) into {@link ResponseFacts}:
 * top-level {@code id} and {@code model}, the {@code usage} object with its details, and errors in both of vLLM's
 * shapes ({@code {"error":{…}}} and the older flat {@code {"object":"error",…}}). Feed it bytes as they come, then
 * call {@link #finish()}.
 *
 * <p>A count is a whole number from 0 to {@link UsageEvent#MAX_USAGE} ({@code 12.0} reads as 12), or null for not
 * reported. A usage object with any other count (negative, fractional, too large, a string, an object) is
 * {@linkplain ResponseFacts.Usage#INVALID invalid} as a whole: none of its counts can be trusted.
 */
public final class UsageExtractor {

    /** What one object turned out to be. */
    public enum Kind {
        /** The chunk vLLM adds for {@code include_usage}: {@code "choices":[]} and a {@code usage} object. */
        USAGE_ONLY,
        /** An error object. */
        ERROR,
        /** Any other object with a {@code usage} object, e.g. a chunk under {@code continuous_usage_stats}. */
        WITH_USAGE,
        /** Anything else that is a JSON object. */
        OTHER,
        /** Not a complete JSON object. */
        UNREADABLE
    }

    private final ResponseFacts facts;
    private final JsonWalker walker;
    private boolean choicesEmpty;
    private boolean usageObject;
    private boolean error;

    private Long prompt;
    private Long completion;
    private boolean completionNumber;
    private Long total;
    private Long cached;
    private Long reasoning;
    private boolean duration;
    private Double seconds;
    private boolean invalid;
    private int choice = -1;

    /** Where a count belongs; anything there but a count or null makes the usage invalid. */
    private static final Set<String> COUNTS = Set.of("usage.prompt_tokens", "usage.input_tokens",
            "usage.completion_tokens", "usage.output_tokens", "usage.total_tokens",
            "usage.prompt_tokens_details.cached_tokens", "usage.input_tokens_details.cached_tokens",
            "usage.completion_tokens_details.reasoning_tokens", "usage.output_tokens_details.reasoning_tokens",
            "usage.seconds");
    private static final BigDecimal MAX_USAGE = BigDecimal.valueOf(UsageEvent.MAX_USAGE);

    /** An extractor of one object, fed in pieces. */
    public UsageExtractor(ResponseFacts facts) {
        this(facts, false);
    }

    private UsageExtractor(ResponseFacts facts, boolean sequence) {
        this.facts = facts;
        this.walker = new JsonWalker(new Fields(), sequence);
    }

    /**
     * An extractor of the objects of one stream's events, each read whole with {@link #readNext}: one parser for
     * the stream instead of one per event. {@link #close()} it when the stream ends.
     */
    public static UsageExtractor forEvents(ResponseFacts facts) {
        return new UsageExtractor(facts, true);
    }

    /** Reads a whole object at once. */
    public static Kind read(byte[] json, ResponseFacts facts) {
        UsageExtractor extractor = new UsageExtractor(facts);
        extractor.feed(json, 0, json.length);
        return extractor.finish();
    }

    /** Reads the next whole object of a stream (an extractor made by {@link #forEvents}). */
    public Kind readNext(byte[] json, int offset, int length) {
        beginNext();
        walker.feed(json, offset, length);
        return finish();
    }

    /**
     * Begins the next object of a stream (an extractor made by {@link #forEvents}), to be fed in pieces as it
     * arrives, then {@link #finish() finished}: the one before is forgotten, whether it ended or not.
     */
    public void beginNext() {
        walker.nextDocument();
        choicesEmpty = false;
        usageObject = false;
        error = false;
        forgetUsage();
        choice = -1;
    }

    /** Forgets the usage fields read so far, as a new {@code usage} object or a new document begins. */
    private void forgetUsage() {
        prompt = completion = total = cached = reasoning = null;
        completionNumber = false;
        duration = false;
        seconds = null;
        invalid = false;
    }

    /** Lets the parser go; nothing more is read. */
    public void close() {
        walker.close();
    }

    public void feed(byte[] bytes, int offset, int length) {
        walker.feed(bytes, offset, length);
    }

    /** Ends the input and says what the object was. */
    public Kind finish() {
        walker.endOfInput();
        if (!walker.rootClosed() || !walker.rootIsObject() || walker.failed()) {
            return error ? Kind.ERROR : Kind.UNREADABLE;
        }
        if (error) {
            return Kind.ERROR;
        }
        if (choicesEmpty && usageObject) {
            facts.finalUsage();
            return Kind.USAGE_ONLY;
        }
        return usageObject ? Kind.WITH_USAGE : Kind.OTHER;
    }

    /**
     * The Responses API nests the response object in its stream events ({@code response.completed}); its fields are
     * read as if they were at the top.
     */
    private static String unnested(String path) {
        return path.startsWith("response.") ? path.substring("response.".length()) : path;
    }

    private final class Fields implements JsonWalker.Visitor {
        @Override
        public void onStart(String rawPath, JsonToken token) {
            String path = unnested(rawPath);
            switch (path) {
                case "usage" -> {
                    if (token == JsonToken.START_OBJECT) {
                        forgetUsage();
                    }
                }
                case "error" -> markError();
                default -> {
                    if (COUNTS.contains(path)) {
                        // an object or array where a count belongs
                        invalid = true;
                    }
                }
            }
        }

        @Override
        public void onEnd(String rawPath, JsonToken token, boolean empty, long byteOffset) {
            String path = unnested(rawPath);
            if (path.equals("usage") && token == JsonToken.END_OBJECT) {
                usageObject = true;
                facts.usage(invalid ? ResponseFacts.Usage.INVALID
                        : duration ? new ResponseFacts.Usage(null, null, null, null, null, false, seconds)
                        : new ResponseFacts.Usage(prompt, completion, total, cached, reasoning, completionNumber,
                                null), choice);
                if (!rawPath.equals(path)) {
                    // the usage of a whole response object inside a stream event: the final one
                    facts.finalUsage();
                }
            } else if (path.equals("choices") && token == JsonToken.END_ARRAY) {
                choicesEmpty = empty;
            }
        }

        @Override
        public void onScalar(String rawPath, JsonToken token, JsonParser parser) throws IOException {
            String path = unnested(rawPath);
            switch (path) {
                // every chunk of a stream repeats both; only the first is kept, so only the first becomes a String
                // a cut value is no id or model: only its beginning was read
                case "id" -> {
                    if (token == JsonToken.VALUE_STRING && facts.responseId() == null && !walker.stringCut()) {
                        facts.responseIdIfAbsent(parser.getText());
                    }
                }
                case "model" -> {
                    if (token == JsonToken.VALUE_STRING && facts.responseModel() == null && !walker.stringCut()) {
                        facts.responseModelIfAbsent(parser.getText());
                    }
                }
                case "object" -> {
                    // every chunk has one ("chat.completion.chunk"): compared where it lies, not made a String
                    if (token == JsonToken.VALUE_STRING && textIs(parser, "error")) {
                        markError();
                    }
                }
                case "error" -> {
                    if (token != JsonToken.VALUE_NULL) {
                        markError();
                    }
                }
                case "type" -> {
                    // the Responses API's stream events; vLLM sends "error" for a failure after the 200
                    if (token == JsonToken.VALUE_STRING && rawPath.equals(path)
                            && ("error".equals(parser.getText()) || "response.failed".equals(parser.getText()))) {
                        markError();
                    }
                }
                case "usage.prompt_tokens", "usage.input_tokens" -> prompt = number(token, parser);
                case "usage.completion_tokens", "usage.output_tokens" -> {
                    completion = number(token, parser);
                    completionNumber = completion != null;
                }
                case "usage.total_tokens" -> total = number(token, parser);
                case "usage.prompt_tokens_details.cached_tokens", "usage.input_tokens_details.cached_tokens" ->
                        cached = number(token, parser);
                case "usage.completion_tokens_details.reasoning_tokens",
                     "usage.output_tokens_details.reasoning_tokens" -> reasoning = number(token, parser);
                case "choices[].index" -> {
                    // a stream chunk under continuous_usage_stats carries one choice, and that choice's usage
                    if (choice < 0 && token == JsonToken.VALUE_NUMBER_INT) {
                        choice = parser.getIntValue();
                    }
                }
                case "usage.type" -> duration = token == JsonToken.VALUE_STRING && "duration".equals(parser.getText());
                case "usage.seconds" -> seconds = seconds(token, parser);
                default -> {
                    // not ours to read
                }
            }
        }

        private void markError() {
            error = true;
            facts.markError();
        }

        private static boolean textIs(JsonParser parser, String expected) throws IOException {
            if (parser.getTextLength() != expected.length()) {
                return false;
            }
            char[] text = parser.getTextCharacters();
            int offset = parser.getTextOffset();
            for (int i = 0; i < expected.length(); i++) {
                if (text[offset + i] != expected.charAt(i)) {
                    return false;
                }
            }
            return true;
        }

        /** A count, or null when not reported; anything else marks the usage invalid. */
        private Long number(JsonToken token, JsonParser parser) {
            if (token == JsonToken.VALUE_NULL) {
                return null;
            }
            try {
                if (token == JsonToken.VALUE_NUMBER_INT && parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                    long value = parser.getLongValue();
                    if (value >= 0 && value <= UsageEvent.MAX_USAGE) {
                        return value;
                    }
                } else if (token == JsonToken.VALUE_NUMBER_FLOAT || token == JsonToken.VALUE_NUMBER_INT) {
                    // exact, so 1e30 is not Long.MAX_VALUE and 7.0000000001 is not 7
                    BigDecimal value = parser.getDecimalValue();
                    if (value.signum() >= 0 && value.compareTo(MAX_USAGE) <= 0
                            && value.stripTrailingZeros().scale() <= 0) {
                        return value.longValueExact();
                    }
                }
            } catch (IOException | ArithmeticException | NumberFormatException e) {
                // a number too odd to read (an exponent past what BigDecimal holds) is no count either
            }
            invalid = true;
            return null;
        }

        /** Seconds of audio, or null when not reported; anything else marks the usage invalid. */
        private Double seconds(JsonToken token, JsonParser parser) {
            if (token == JsonToken.VALUE_NULL) {
                return null;
            }
            try {
                if (token == JsonToken.VALUE_NUMBER_INT || token == JsonToken.VALUE_NUMBER_FLOAT) {
                    double value = parser.getDoubleValue();
                    // false for NaN and for what overflowed to infinity
                    if (value >= 0 && value <= UsageEvent.MAX_USAGE) {
                        return value;
                    }
                }
            } catch (IOException | NumberFormatException e) {
                // not a number that can be read
            }
            invalid = true;
            return null;
        }
    }
}
