package dev.tokentap.aggregator.pricing;

import dev.tokentap.aggregator.topology.UsageValues;
import dev.tokentap.event.Cost;
import dev.tokentap.event.UsageEvent;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The price list, and what a request cost by it. The price of a request is the one in force at its
 * {@code started_at} (the latest {@code effective_from} not after it) for its {@code model}: an entry of that exact
 * name if one is in force, else the first glob in the file's order that matches and is in force. A change of price
 * from a moment on is a new entry; entries are never rewritten, so the cost of the past stays what it was. Pure and
 * thread-safe.
 *
 * <p>Cost = (prompt − cached) × prompt price + cached × cached price + completion × completion price, each per
 * million tokens, + audio seconds × price per second; exact, never rounded. A request without a prompt count but with
 * a total (rerank) has its total less its completion counted as prompt. A request whose usage could not be true
 * ({@link UsageValues#countable}) costs nothing.
 */
public final class Prices {

    /** No price list: no cost is computed and nothing counts as unpriced. */
    public static final Prices NONE = new Prices(null, List.of());

    /** Distinct model names whose candidate prices are kept for reuse; model names come from clients. */
    static final int MODEL_CACHE_SIZE = 1000;

    private final String currency;
    private final List<Price> entries;
    /** Per pattern, its entries latest first; in file order of each pattern's first entry. */
    private final Map<String, List<Price>> byPattern;
    private final Map<String, Pattern> globs;
    private final Map<String, Candidates> cache = new ConcurrentHashMap<>();

    Prices(String currency, List<Price> entries) {
        this.currency = currency;
        this.entries = List.copyOf(entries);
        Map<String, List<Price>> grouped = new LinkedHashMap<>();
        Map<String, Pattern> compiled = new LinkedHashMap<>();
        for (Price price : this.entries) {
            grouped.computeIfAbsent(price.model(), m -> new ArrayList<>()).add(price);
            if (price.isGlob()) {
                compiled.computeIfAbsent(price.model(), Prices::glob);
            }
        }
        grouped.values().forEach(list -> list.sort(Comparator.comparingLong(Price::effectiveFrom).reversed()));
        this.byPattern = grouped;
        this.globs = compiled;
    }

    /** A price list in {@code currency}. */
    public static Prices of(String currency, List<Price> entries) {
        return new Prices(Objects.requireNonNull(currency, "currency"), entries);
    }

    /** Whether there is a price list at all. */
    public boolean configured() {
        return currency != null;
    }

    /** The currency every price is in; null without a price list. */
    public String currency() {
        return currency;
    }

    public List<Price> entries() {
        return entries;
    }

    /** The price in force for {@code model} at {@code at} (epoch milliseconds), or null when there is none. */
    public Price priceAt(String model, long at) {
        if (!configured()) {
            return null;
        }
        Candidates candidates = candidates(model == null ? "" : model);
        Price exact = inForce(candidates.exact, at);
        if (exact != null) {
            return exact;
        }
        for (List<Price> glob : candidates.globs) {
            Price price = inForce(glob, at);
            if (price != null) {
                return price;
            }
        }
        return null;
    }

    /**
     * What {@code event} cost at the price in force at {@code at} (its {@code started_at}, or the aggregator's time
     * when it has none), or null when there is no price for its model then.
     */
    public Cost costOf(UsageEvent event, long at) {
        Price price = priceAt(event.model(), at);
        if (price == null) {
            return null;
        }
        return Cost.of(currency, amount(event, price));
    }

    /** The exact cost of {@code event} at {@code price}. */
    static BigDecimal amount(UsageEvent event, Price price) {
        if (!UsageValues.countable(event)) {
            return BigDecimal.ZERO;
        }
        long completion = event.completionTokensOrZero();
        long prompt = event.promptTokens() != null ? event.promptTokens()
                : event.totalTokens() != null ? Math.max(0, event.totalTokens() - completion) : 0;
        long cached = Math.min(event.cachedTokensOrZero(), prompt);
        BigDecimal perMillion = BigDecimal.ZERO;
        if (prompt > cached) {
            perMillion = perMillion.add(BigDecimal.valueOf(prompt - cached).multiply(price.promptPerMillion()));
        }
        if (cached > 0) {
            perMillion = perMillion.add(BigDecimal.valueOf(cached).multiply(price.cachedOrPromptPerMillion()));
        }
        if (completion > 0) {
            perMillion = perMillion.add(BigDecimal.valueOf(completion).multiply(price.completionPerMillion()));
        }
        BigDecimal amount = perMillion.movePointLeft(6);
        Double audio = event.audioSeconds();
        if (audio != null && audio > 0 && price.perAudioSecond().signum() != 0) {
            // the decimal the event's JSON said (Double.toString is the shortest that reads back the same)
            amount = amount.add(BigDecimal.valueOf(audio).multiply(price.perAudioSecond()));
        }
        return amount;
    }

    private static Price inForce(List<Price> latestFirst, long at) {
        if (latestFirst == null) {
            return null;
        }
        for (Price price : latestFirst) {
            if (price.effectiveFrom() <= at) {
                return price;
            }
        }
        return null;
    }

    private Candidates candidates(String model) {
        Candidates cached = cache.get(model);
        if (cached != null) {
            return cached;
        }
        List<List<Price>> matching = new ArrayList<>();
        globs.forEach((pattern, regex) -> {
            if (regex.matcher(model).matches()) {
                matching.add(byPattern.get(pattern));
            }
        });
        Candidates found = new Candidates(byPattern.get(model), List.copyOf(matching));
        // bounded: a client can send any number of model names
        if (cache.size() < MODEL_CACHE_SIZE) {
            cache.put(model, found);
        }
        return found;
    }

    /** A glob as a regular expression: {@code *} any characters, {@code ?} one, the rest literal. */
    static Pattern glob(String glob) {
        StringBuilder regex = new StringBuilder();
        StringBuilder literal = new StringBuilder();
        for (char c : glob.toCharArray()) {
            if (c == '*' || c == '?') {
                if (!literal.isEmpty()) {
                    regex.append(Pattern.quote(literal.toString()));
                    literal.setLength(0);
                }
                regex.append(c == '*' ? ".*" : ".");
            } else {
                literal.append(c);
            }
        }
        if (!literal.isEmpty()) {
            regex.append(Pattern.quote(literal.toString()));
        }
        return Pattern.compile(regex.toString(), Pattern.DOTALL);
    }

    private record Candidates(List<Price> exact, List<List<Price>> globs) {
    }
}
