package dev.tokentap.config;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * The one way every tokentap process reads a duration: a whole number with a unit ({@code 500ms}, {@code 30s},
 * {@code 5m}, {@code 1h}, {@code 2d}) or ISO-8601 ({@code PT0.5S}). A bare number is refused, {@code 0} alone
 * excepted: the processes once read {@code 30} as seconds in one place and milliseconds in another, and a unit
 * makes a value mean the same wherever it is given.
 */
public final class Durations implements ITypeConverter<Duration> {

    private static final Pattern WITH_UNIT = Pattern.compile("(\\d{1,18})\\s*(ms|s|m|h|d)");
    private static final Pattern BARE = Pattern.compile("\\d+");

    /**
     * Reads {@code text}.
     *
     * @throws IllegalArgumentException saying what was expected
     */
    public static Duration parse(String text) {
        String v = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
        Matcher m = WITH_UNIT.matcher(v);
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            return switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            };
        }
        if (BARE.matcher(v).matches()) {
            if (v.chars().allMatch(c -> c == '0')) {
                return Duration.ZERO;
            }
            throw new IllegalArgumentException("'" + text.strip() + "' has no unit: write it as " + v + "ms, " + v
                    + "s or " + v + "m");
        }
        if (v.startsWith("p")) {
            try {
                return Duration.parse(v.toUpperCase(Locale.ROOT));
            } catch (DateTimeParseException e) {
                // reported below with the usual hint
            }
        }
        throw new IllegalArgumentException("'" + (text == null ? "" : text.strip())
                + "' is not a duration: write a number with a unit (500ms, 30s, 5m, 1h, 2d) or ISO-8601 (PT30S)");
    }

    @Override
    public Duration convert(String value) {
        try {
            return parse(value);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(e.getMessage());
        }
    }
}
