package dev.tokentap.config;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * The one way every tokentap process reads a size in bytes: a whole number of bytes, or one with {@code KiB},
 * {@code MiB} or {@code GiB} ({@code 32MiB}, {@code 8 KiB}). Used by options with {@code converter = Sizes.class}.
 */
public final class Sizes implements ITypeConverter<Long> {

    private static final Pattern SIZE = Pattern.compile("(\\d{1,19})\\s*(kib|mib|gib)?");

    /**
     * Reads {@code text}.
     *
     * @throws IllegalArgumentException saying what was expected
     */
    public static long parse(String text) {
        String v = text == null ? "" : text.strip();
        Matcher m = SIZE.matcher(v.toLowerCase(Locale.ROOT));
        if (m.matches()) {
            int shift = m.group(2) == null ? 0 : switch (m.group(2)) {
                case "kib" -> 10;
                case "mib" -> 20;
                default -> 30;
            };
            try {
                long number = Long.parseLong(m.group(1));
                if (number <= (Long.MAX_VALUE >> shift)) {
                    return number << shift;
                }
            } catch (NumberFormatException e) {
                // out of range, reported below
            }
        }
        throw new IllegalArgumentException("'" + v + "' is not a size: write bytes, or a number with KiB, MiB or "
                + "GiB (32MiB)");
    }

    @Override
    public Long convert(String value) {
        try {
            return parse(value);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(e.getMessage());
        }
    }
}
