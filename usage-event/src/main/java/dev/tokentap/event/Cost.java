package dev.tokentap.event;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.math.BigDecimal;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * An exact amount of money per currency: what requests cost at the prices the aggregator was given. On the wire a
 * JSON object from ISO 4217 currency code to the amount as a decimal string, {@code {"USD": "0.0001234"}}: a string,
 * so that no reader's JSON library turns it into a binary float; written without exponent and without trailing
 * zeros. One currency in practice; several only when the price list changed its currency within what was summed.
 * Immutable.
 *
 * @param amounts amount per currency code, none negative
 */
public record Cost(SortedMap<String, BigDecimal> amounts) {

    /** No cost at all. */
    public static final Cost NONE = new Cost(new TreeMap<>());

    /** An ISO 4217 code: three capital letters. */
    public static final Pattern CURRENCY = Pattern.compile("[A-Z]{3}");

    public Cost {
        SortedMap<String, BigDecimal> copy = new TreeMap<>();
        if (amounts != null) {
            amounts.forEach((currency, amount) -> {
                Objects.requireNonNull(currency, "currency");
                Objects.requireNonNull(amount, "amount");
                if (amount.signum() < 0) {
                    throw new IllegalArgumentException("a cost is never negative, got " + amount + " " + currency);
                }
                copy.put(currency, amount);
            });
        }
        amounts = Collections.unmodifiableSortedMap(copy);
    }

    /** {@code amount} in {@code currency}. */
    public static Cost of(String currency, BigDecimal amount) {
        SortedMap<String, BigDecimal> one = new TreeMap<>();
        one.put(currency, amount);
        return new Cost(one);
    }

    /** Reads the wire form: currency to a decimal string (or a JSON number, read as its decimal text). */
    @JsonCreator
    public static Cost fromJson(Map<String, Object> json) {
        SortedMap<String, BigDecimal> amounts = new TreeMap<>();
        if (json != null) {
            json.forEach((currency, amount) -> {
                if (amount != null) {
                    amounts.put(currency, new BigDecimal(amount.toString()));
                }
            });
        }
        return new Cost(amounts);
    }

    /** The wire form: currency to the plain decimal string of the amount. */
    @JsonValue
    public SortedMap<String, String> toJson() {
        SortedMap<String, String> json = new TreeMap<>();
        amounts.forEach((currency, amount) -> json.put(currency, plain(amount)));
        return json;
    }

    /** The sum of both, per currency; exact. */
    public Cost plus(Cost other) {
        if (other == null || other.amounts.isEmpty()) {
            return this;
        }
        if (amounts.isEmpty()) {
            return other;
        }
        SortedMap<String, BigDecimal> sum = new TreeMap<>(amounts);
        other.amounts.forEach((currency, amount) -> sum.merge(currency, amount, BigDecimal::add));
        return new Cost(sum);
    }

    /** The amount in {@code currency}, zero when there is none. */
    public BigDecimal amount(String currency) {
        return amounts.getOrDefault(currency, BigDecimal.ZERO);
    }

    public boolean isEmpty() {
        return amounts.isEmpty();
    }

    /** An amount as the wire writes it: plain notation, no trailing zeros, {@code "0"} for zero. */
    public static String plain(BigDecimal amount) {
        if (amount.signum() == 0) {
            return "0";
        }
        return amount.stripTrailingZeros().toPlainString();
    }
}
