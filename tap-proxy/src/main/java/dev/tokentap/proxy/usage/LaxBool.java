package dev.tokentap.proxy.usage;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.util.Locale;
import java.util.Set;

/**
 * A boolean read as vLLM reads it: pydantic 2's lax mode, which takes {@code 1}/{@code 0}, {@code 1.0}/{@code 0.0}
 * and the strings {@code "1" "on" "t" "true" "y" "yes"} / {@code "0" "off" "f" "false" "n" "no"} (any case, trimmed)
 * besides {@code true}/{@code false}. Anything else is a 400 in vLLM.
 */
public enum LaxBool {
    TRUE, FALSE, NULL, INVALID;

    private static final Set<String> TRUE_TEXT = Set.of("1", "on", "t", "true", "y", "yes");
    private static final Set<String> FALSE_TEXT = Set.of("0", "off", "f", "false", "n", "no");

    /** The scalar the parser stands on. */
    public static LaxBool of(JsonToken token, JsonParser parser) throws IOException {
        return switch (token) {
            case VALUE_TRUE -> TRUE;
            case VALUE_FALSE -> FALSE;
            case VALUE_NULL -> NULL;
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
                double value = parser.getDoubleValue();
                yield value == 1 ? TRUE : value == 0 ? FALSE : INVALID;
            }
            case VALUE_STRING -> ofText(parser.getText());
            default -> INVALID;
        };
    }

    /** A form field's or string value's text. */
    public static LaxBool ofText(String text) {
        if (text == null) {
            return NULL;
        }
        String s = text.strip().toLowerCase(Locale.ROOT);
        return TRUE_TEXT.contains(s) ? TRUE : FALSE_TEXT.contains(s) ? FALSE : INVALID;
    }
}
