package dev.tokentap.aggregator.pricing;

import java.math.BigDecimal;
import java.util.Objects;

/**
 * One line of the price list: what a model (by exact name or glob) costs from a moment on. Amounts are exact
 * decimals, none negative; an absent one is zero.
 *
 * @param model                  exact model name, or a glob ({@code *} any characters, {@code ?} one)
 * @param effectiveFrom          epoch milliseconds from which it applies, inclusive
 * @param promptPerMillion       per million prompt tokens that were not served from the prefix cache
 * @param cachedPromptPerMillion per million cached prompt tokens; null means the prompt price
 * @param completionPerMillion   per million completion tokens (reasoning tokens are among them)
 * @param perAudioSecond         per second of audio
 */
public record Price(String model, long effectiveFrom, BigDecimal promptPerMillion, BigDecimal cachedPromptPerMillion,
                    BigDecimal completionPerMillion, BigDecimal perAudioSecond) {

    public Price {
        Objects.requireNonNull(model, "model");
        promptPerMillion = promptPerMillion == null ? BigDecimal.ZERO : promptPerMillion;
        completionPerMillion = completionPerMillion == null ? BigDecimal.ZERO : completionPerMillion;
        perAudioSecond = perAudioSecond == null ? BigDecimal.ZERO : perAudioSecond;
    }

    /** The price of a cached prompt token's million: its own, or the prompt price when it has none. */
    public BigDecimal cachedOrPromptPerMillion() {
        return cachedPromptPerMillion != null ? cachedPromptPerMillion : promptPerMillion;
    }

    /** Whether {@link #model()} is a glob rather than an exact name. */
    public boolean isGlob() {
        return isGlob(model);
    }

    static boolean isGlob(String pattern) {
        return pattern.indexOf('*') >= 0 || pattern.indexOf('?') >= 0;
    }
}
