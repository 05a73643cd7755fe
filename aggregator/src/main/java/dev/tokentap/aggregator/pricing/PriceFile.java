package dev.tokentap.aggregator.pricing;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.tokentap.event.Cost;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Reads a price list from a JSON or YAML file ({@code .json} is read as JSON, anything else as YAML) and checks all of
 * it, naming every problem at once:
 *
 * <pre>
 * currency: USD
 * prices:
 *   - model: meta-llama/Llama-3.1-8B-Instruct
 *     effective_from: 2026-01-01T00:00:00Z
 *     prompt_per_million: 0.10
 *     cached_prompt_per_million: 0.05
 *     completion_per_million: 0.20
 *   - model: "openai/whisper-*"
 *     per_audio_second: 0.0001
 * </pre>
 *
 * Amounts are read as exact decimals (a number or a string); {@code effective_from} is an RFC 3339 time or a date
 * (midnight UTC), absent for "since always". A field the format does not know is an error: a misspelt price must not
 * become a price of zero.
 */
public final class PriceFile {

    static final String CURRENCY = "currency";
    static final String PRICES = "prices";
    static final String MODEL = "model";
    static final String EFFECTIVE_FROM = "effective_from";
    static final String PROMPT = "prompt_per_million";
    static final String CACHED_PROMPT = "cached_prompt_per_million";
    static final String COMPLETION = "completion_per_million";
    static final String AUDIO_SECOND = "per_audio_second";

    private static final Set<String> TOP = Set.of(CURRENCY, PRICES);
    private static final Set<String> ENTRY = Set.of(MODEL, EFFECTIVE_FROM, PROMPT, CACHED_PROMPT, COMPLETION,
            AUDIO_SECOND);

    private PriceFile() {
    }

    /**
     * The price list in {@code file}.
     *
     * @throws IllegalArgumentException naming every problem of the file, each with where it is
     */
    public static Prices read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("--prices " + file + " cannot be read: " + e.getMessage(), e);
        }
        return parse(text, file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".json"),
                "--prices " + file);
    }

    /** The price list in {@code text}; {@code source} names it in messages. */
    static Prices parse(String text, boolean json, String source) {
        ObjectMapper mapper = (json ? JsonMapper.builder() : YAMLMapper.builder())
                .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
                .build();
        JsonNode root;
        try {
            root = mapper.readTree(text);
        } catch (IOException e) {
            String why = e instanceof com.fasterxml.jackson.core.JsonProcessingException p ? p.getOriginalMessage()
                    : e.getMessage();
            throw new IllegalArgumentException(source + " is not " + (json ? "JSON" : "YAML") + ": " + why);
        }
        List<String> problems = new ArrayList<>();
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(source + " must hold an object with currency and prices");
        }
        unknown(root, TOP, "", problems);
        String currency = root.path(CURRENCY).asText(null);
        if (currency == null || !root.path(CURRENCY).isTextual()) {
            problems.add("currency: missing (an ISO 4217 code such as USD)");
        } else if (!Cost.CURRENCY.matcher(currency).matches()) {
            problems.add("currency: '" + currency + "' is not an ISO 4217 code (three capital letters)");
        }
        JsonNode list = root.get(PRICES);
        List<Price> prices = new ArrayList<>();
        if (list == null || !list.isArray() || list.isEmpty()) {
            problems.add("prices: missing or empty (a list of prices)");
        } else {
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < list.size(); i++) {
                Price price = entry(list.get(i), "prices[" + i + "]", problems);
                if (price != null && !seen.add(price.model() + '\u0000' + price.effectiveFrom())) {
                    problems.add("prices[" + i + "]: a second price for '" + price.model() + "' from "
                            + Instant.ofEpochMilli(price.effectiveFrom()));
                }
                if (price != null) {
                    prices.add(price);
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(source + " has " + problems.size()
                    + (problems.size() == 1 ? " problem: " : " problems: ") + String.join("; ", problems));
        }
        return Prices.of(currency, prices);
    }

    private static Price entry(JsonNode node, String at, List<String> problems) {
        if (node == null || !node.isObject()) {
            problems.add(at + ": must be an object with model and prices");
            return null;
        }
        int before = problems.size();
        unknown(node, ENTRY, at + ".", problems);
        String model = node.path(MODEL).isTextual() ? node.path(MODEL).asText() : null;
        if (model == null || model.isBlank()) {
            problems.add(at + ".model: missing (an exact model name or a glob with * and ?)");
        }
        long from = 0;
        JsonNode effective = node.get(EFFECTIVE_FROM);
        if (effective != null && !effective.isNull()) {
            try {
                from = time(effective.asText());
            } catch (DateTimeParseException e) {
                problems.add(at + ".effective_from: '" + effective.asText()
                        + "' is not an RFC 3339 time (2026-01-01T00:00:00Z) or a date (2026-01-01)");
            }
        }
        BigDecimal prompt = amount(node, PROMPT, at, problems);
        BigDecimal cached = amount(node, CACHED_PROMPT, at, problems);
        BigDecimal completion = amount(node, COMPLETION, at, problems);
        BigDecimal audio = amount(node, AUDIO_SECOND, at, problems);
        if (prompt == null && cached == null && completion == null && audio == null && problems.size() == before) {
            problems.add(at + ": names no price (" + PROMPT + ", " + CACHED_PROMPT + ", " + COMPLETION + " or "
                    + AUDIO_SECOND + ")");
        }
        return problems.size() == before ? new Price(model, from, prompt, cached, completion, audio) : null;
    }

    private static BigDecimal amount(JsonNode node, String field, String at, List<String> problems) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            return null;
        }
        BigDecimal amount = null;
        if (value.isNumber()) {
            amount = value.decimalValue();
        } else if (value.isTextual()) {
            try {
                amount = new BigDecimal(value.asText().trim());
            } catch (NumberFormatException e) {
                // reported below
            }
        }
        if (amount == null) {
            problems.add(at + "." + field + ": '" + value.asText() + "' is not a decimal number");
            return null;
        }
        if (amount.signum() < 0) {
            problems.add(at + "." + field + ": must be zero or more, got " + amount.toPlainString());
            return null;
        }
        return amount;
    }

    private static void unknown(JsonNode node, Set<String> known, String at, List<String> problems) {
        for (Iterator<String> names = node.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!known.contains(name)) {
                problems.add(at + name + ": unknown field (known: " + String.join(", ", known.stream().sorted()
                        .toList()) + ")");
            }
        }
    }

    private static long time(String text) {
        String t = text.trim();
        if (t.length() == 10) {
            return LocalDate.parse(t).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
        }
        return java.time.OffsetDateTime.parse(t).toInstant().toEpochMilli();
    }
}
