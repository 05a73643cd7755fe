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
 * <p>Besides OpenAI's {@code usage} it reads the other shapes vLLM answers in: the Anthropic Messages API
 * ({@code input_tokens}, {@code output_tokens}, {@code cache_read_input_tokens},
 * {@code cache_creation_input_tokens}; in streams {@code message_start.message.usage} and the final
 * {@code message_delta.usage}), Cohere's {@code meta.billed_units} ({@code /v2/embed}), and the token ids of
 * {@code /inference/v1/generate} answers, which carry no usage: each {@code choices[].token_ids} element is counted
 * ({@link ResponseFacts#generatedTokenIds()}).
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
        /**
         * A whole chat or completions response ({@code "object":"chat.completion"} or {@code "text_completion"} with
         * a usage) as the one event of a "stream" older vLLM does not really stream (a completions beam search):
         * its usage is final and belongs to the response as the client would have received it.
         */
        RESPONSE,
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
    private boolean wholeResponse;

    private Long prompt;
    private Long completion;
    private boolean completionNumber;
    private Long total;
    private Long cached;
    private Long reasoning;
    private Long cacheRead;
    private Long cacheCreation;
    private Long imageTokens;
    /** The object is an Anthropic {@code message_delta} event, whose usage is the message's final one. */
    private boolean messageDelta;
    private boolean duration;
    private Double seconds;
    private boolean invalid;
    private int choice = -1;

    /** Where a count belongs; anything there but a count or null makes the usage invalid. */
    private static final Set<String> COUNTS = Set.of("usage.prompt_tokens", "usage.input_tokens",
            "usage.completion_tokens", "usage.output_tokens", "usage.total_tokens",
            "usage.prompt_tokens_details.cached_tokens", "usage.input_tokens_details.cached_tokens",
            "usage.completion_tokens_details.reasoning_tokens", "usage.output_tokens_details.reasoning_tokens",
            "usage.cache_read_input_tokens", "usage.cache_creation_input_tokens", "usage.seconds",
            "meta.billed_units.input_tokens", "meta.billed_units.image_tokens");
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
        wholeResponse = false;
        messageDelta = false;
        forgetUsage();
        choice = -1;
    }

    /** Forgets the usage fields read so far, as a new {@code usage} object or a new document begins. */
    private void forgetUsage() {
        prompt = completion = total = cached = reasoning = cacheRead = cacheCreation = imageTokens = null;
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
        if (wholeResponse && usageObject) {
            facts.finalUsage();
            return Kind.RESPONSE;
        }
        return usageObject ? Kind.WITH_USAGE : Kind.OTHER;
    }

    /**
     * The Responses API nests the response object in its stream events ({@code response.completed}), the Anthropic
     * Messages API its message in {@code message_start}; their fields are read as if they were at the top.
     */
    private static String unnested(String path) {
        return path.startsWith("response.") ? path.substring("response.".length())
                : path.startsWith("message.") ? path.substring("message.".length()) : path;
    }

    /** Whether a nested usage is the response's final one: a whole Responses object, not a {@code message_start}. */
    private static boolean finalWhenNested(String rawPath) {
        return rawPath.startsWith("response.");
    }

    /**
     * The usage object just closed. Anthropic's input tokens leave out those read from or written to its prompt
     * cache, which it counts apart: the prompt is their sum, and the cache reads are the cached tokens.
     */
    private ResponseFacts.Usage closedUsage() {
        if (invalid) {
            return ResponseFacts.Usage.INVALID;
        }
        if (duration) {
            return new ResponseFacts.Usage(null, null, null, null, null, false, seconds);
        }
        Long promptTokens = prompt;
        Long cachedTokens = cached;
        if (cacheRead != null || cacheCreation != null) {
            promptTokens = sum(sum(prompt, cacheRead), cacheCreation);
            cachedTokens = cacheRead != null ? cacheRead : cached;
            if (promptTokens != null && promptTokens > UsageEvent.MAX_USAGE) {
                return ResponseFacts.Usage.INVALID;
            }
        }
        return new ResponseFacts.Usage(promptTokens, completion, total, cachedTokens, reasoning, completionNumber,
                null);
    }

    /** Cohere's billed units: input and image tokens are all prompt tokens; nothing is generated. */
    private ResponseFacts.Usage billedUnits() {
        if (invalid) {
            return ResponseFacts.Usage.INVALID;
        }
        Long promptTokens = sum(prompt, imageTokens);
        if (promptTokens != null && promptTokens > UsageEvent.MAX_USAGE) {
            return ResponseFacts.Usage.INVALID;
        }
        return new ResponseFacts.Usage(promptTokens, null, promptTokens, null, null, false, null);
    }

    private static Long sum(Long a, Long b) {
        return a == null ? b : b == null ? a : Long.valueOf(a + b);
    }

    private final class Fields implements JsonWalker.Visitor {
        @Override
        public void onStart(String rawPath, JsonToken token) {
            String path = unnested(rawPath);
            switch (path) {
                case "usage", "meta.billed_units" -> {
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
                facts.usage(closedUsage(), choice);
                if (finalWhenNested(rawPath) || messageDelta) {
                    // the usage of a whole response object inside a stream event, or the closing count of an
                    // Anthropic message: the final one
                    facts.finalUsage();
                }
            } else if (path.equals("meta.billed_units") && token == JsonToken.END_OBJECT) {
                usageObject = true;
                facts.usage(billedUnits());
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
                    if (token == JsonToken.VALUE_STRING && rawPath.equals(path)) {
                        if (textIs(parser, "error")) {
                            markError();
                        } else if (textIs(parser, "chat.completion")) {
                            wholeResponse = true;
                        }
                    }
                }
                case "service_tier" -> {
                    // a member of whole chat and completions responses, never of a chunk: tells a whole
                    // text_completion apart from a completions chunk, whose object is the same
                    wholeResponse = wholeResponse || rawPath.equals(path);
                }
                case "error" -> {
                    if (token != JsonToken.VALUE_NULL) {
                        markError();
                    }
                }
                case "type" -> {
                    // the Responses API's stream events; vLLM sends "error" for a failure after the 200
                    if (token == JsonToken.VALUE_STRING && rawPath.equals(path)) {
                        String type = parser.getText();
                        if ("error".equals(type) || "response.failed".equals(type)) {
                            markError();
                        } else if ("message_delta".equals(type)) {
                            messageDelta = true;
                        }
                    }
                }
                case "usage.prompt_tokens", "usage.input_tokens", "meta.billed_units.input_tokens" ->
                        prompt = number(token, parser);
                case "meta.billed_units.image_tokens" -> imageTokens = number(token, parser);
                case "usage.cache_read_input_tokens" -> cacheRead = number(token, parser);
                case "usage.cache_creation_input_tokens" -> cacheCreation = number(token, parser);
                case "choices[].token_ids[]" -> facts.generatedTokenId();
                case "background" -> {
                    if ((token == JsonToken.VALUE_TRUE || token == JsonToken.VALUE_FALSE)
                            && !rawPath.startsWith("message.")) {
                        facts.background(token == JsonToken.VALUE_TRUE);
                    }
                }
                case "status" -> {
                    // a Responses API object's, whole or in a stream event: the last one seen is where it ended
                    if (token == JsonToken.VALUE_STRING && !rawPath.startsWith("message.") && !walker.stringCut()) {
                        facts.status(parser.getText());
                    }
                }
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
