package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventDecodeException;
import dev.tokentap.event.UsageSource;
import java.io.IOException;
import java.util.List;
import java.util.Set;

/**
 * The aggregator's own check of an event's usage values, whatever the proxy checked before: a count is a whole
 * number from 0 to {@link #MAX}; {@code audio_seconds} a number from 0 to {@link #MAX}. An event with any other
 * value (negative, fractional, not a number, larger), or that its proxy flagged {@code usage_source: "invalid"},
 * is counted as a request with no usage at all: none of its usage values is added, and its enriched record carries
 * it with the usage fields removed and {@code usage_source: "invalid"}. Pure.
 */
public final class UsageValues {

    /** The largest count or number of seconds one event may carry: the contract's bound, the proxy's too. */
    public static final long MAX = UsageEvent.MAX_USAGE;

    /** The {@code usage_source} of an event whose usage is not to be trusted, as the proxy or the aggregator says. */
    public static final String INVALID_SOURCE = UsageSource.INVALID;

    /** Why an event's usage was not counted. */
    public static final String NEGATIVE = "negative";
    public static final String FRACTIONAL = "fractional";
    public static final String NOT_A_NUMBER = "not_a_number";
    public static final String TOO_LARGE = "too_large";
    /** The proxy said so ({@code usage_source: "invalid"}). */
    public static final String FLAGGED = "flagged";

    /** Every reason, for metrics. */
    public static final List<String> REASONS = List.of(NEGATIVE, FRACTIONAL, NOT_A_NUMBER, TOO_LARGE, FLAGGED);

    static final Set<String> COUNTS = Set.of("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
            "reasoning_tokens");
    static final String AUDIO_SECONDS = "audio_seconds";
    static final String USAGE_SOURCE = "usage_source";
    /** What an event says about its usage; all of it goes when the usage is invalid. */
    static final List<String> USAGE_FIELDS = List.of("prompt_tokens", "completion_tokens", "total_tokens",
            "cached_tokens", "reasoning_tokens", AUDIO_SECONDS, "completion_tokens_reported");

    private static final JsonFactory JSON = new JsonFactory();
    private static final ObjectMapper MAPPER = UsageEventCodec.newMapper();

    private UsageValues() {
    }

    /**
     * Why the usage in a usage record's JSON is invalid, or null when it is valid, absent, or the record is no JSON
     * object at all (decoding says why then). Reads only the record's top-level fields, skipping the rest.
     */
    public static String problem(byte[] json) {
        try (JsonParser parser = JSON.createParser(json)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            String name;
            while ((name = parser.nextFieldName()) != null) {
                JsonToken value = parser.nextToken();
                String problem = null;
                if (COUNTS.contains(name)) {
                    problem = count(parser, value);
                } else if (AUDIO_SECONDS.equals(name)) {
                    problem = seconds(parser, value);
                } else if (USAGE_SOURCE.equals(name)) {
                    problem = value == JsonToken.VALUE_STRING && INVALID_SOURCE.equals(parser.getText())
                            ? FLAGGED : null;
                } else {
                    parser.skipChildren();
                }
                if (problem != null) {
                    return problem;
                }
            }
            return null;
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * The record's JSON without its usage fields and with {@code usage_source: "invalid"}.
     *
     * @throws UsageEventDecodeException when it is not a JSON object
     */
    public static byte[] withoutUsage(byte[] json) {
        try {
            JsonNode tree = MAPPER.readTree(json);
            if (!(tree instanceof ObjectNode event)) {
                throw new UsageEventDecodeException(UsageEventDecodeException.MALFORMED, "not a JSON object");
            }
            event.remove(USAGE_FIELDS);
            event.put(USAGE_SOURCE, INVALID_SOURCE);
            return MAPPER.writeValueAsBytes(event);
        } catch (IOException e) {
            throw new UsageEventDecodeException(UsageEventDecodeException.MALFORMED,
                    "not a usage event: " + e.getMessage(), e);
        }
    }

    /** Whether every usage value of a decoded event may be added: no count negative or above {@link #MAX}. */
    public static boolean countable(UsageEvent event) {
        return !INVALID_SOURCE.equals(event.usageSource())
                && within(event.promptTokens()) && within(event.completionTokens())
                && within(event.totalTokens()) && within(event.cachedTokens());
    }

    /** The event's reasoning tokens when it may be added (from 0 to {@link #MAX}), else 0. */
    public static long reasoningTokensOrZero(UsageEvent event) {
        Long n = event.reasoningTokens();
        return n != null && within(n) ? n : 0;
    }

    /**
     * {@code sum} plus the event's {@code audio_seconds} as the decimal its JSON said, exactly; {@code sum} itself when
     * the event has none or one outside 0 to {@link #MAX}.
     */
    public static java.math.BigDecimal plusAudio(java.math.BigDecimal sum, UsageEvent event) {
        Double seconds = event.audioSeconds();
        if (seconds == null || !(seconds > 0) || seconds > MAX) {
            return sum;
        }
        return sum.add(java.math.BigDecimal.valueOf(seconds));
    }

    private static boolean within(Long count) {
        return count == null || (count >= 0 && count <= MAX);
    }

    private static String count(JsonParser parser, JsonToken value) throws IOException {
        return switch (value) {
            case VALUE_NULL -> null;
            case VALUE_NUMBER_INT -> {
                if (parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                    yield parser.getBigIntegerValue().signum() < 0 ? NEGATIVE : TOO_LARGE;
                }
                long n = parser.getLongValue();
                yield n < 0 ? NEGATIVE : n > MAX ? TOO_LARGE : null;
            }
            case VALUE_NUMBER_FLOAT -> {
                double n = parser.getDoubleValue();
                String range = range(n);
                // a whole number written as a float (12.0) is the count it says; decoding takes it as such
                yield range != null ? range : n != Math.rint(n) ? FRACTIONAL : null;
            }
            default -> {
                parser.skipChildren();
                yield NOT_A_NUMBER;
            }
        };
    }

    private static String seconds(JsonParser parser, JsonToken value) throws IOException {
        return switch (value) {
            case VALUE_NULL -> null;
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> range(parser.getDoubleValue());
            default -> {
                parser.skipChildren();
                yield NOT_A_NUMBER;
            }
        };
    }

    private static String range(double n) {
        if (Double.isNaN(n)) {
            return NOT_A_NUMBER;
        }
        return n < 0 ? NEGATIVE : n > MAX ? TOO_LARGE : null;
    }
}
