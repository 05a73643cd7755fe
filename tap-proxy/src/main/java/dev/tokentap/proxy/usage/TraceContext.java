package dev.tokentap.proxy.usage;

import java.util.Locale;

/**
 * The trace and parent span ids of a W3C {@code traceparent} header
 * ({@code version-traceid-parentid-flags}), for correlating usage with traces.
 *
 * @param traceId 32 lower-case hex digits, not all zero
 * @param spanId  16 lower-case hex digits, not all zero
 */
public record TraceContext(String traceId, String spanId) {

    /** The ids in {@code traceparent}, or null when the header is absent or not valid. */
    public static TraceContext parse(String traceparent) {
        if (traceparent == null) {
            return null;
        }
        String value = traceparent.strip().toLowerCase(Locale.ROOT);
        // 2 + 1 + 32 + 1 + 16 + 1 + 2; later versions may append fields after another dash
        if (value.length() < 55) {
            return null;
        }
        String version = value.substring(0, 2);
        if (!isHex(version) || version.equals("ff")) {
            return null;
        }
        if (value.charAt(2) != '-' || value.charAt(35) != '-' || value.charAt(52) != '-') {
            return null;
        }
        if (value.length() > 55 && (version.equals("00") || value.charAt(55) != '-')) {
            return null;
        }
        String traceId = value.substring(3, 35);
        String spanId = value.substring(36, 52);
        String flags = value.substring(53, 55);
        if (!isHex(traceId) || !isHex(spanId) || !isHex(flags) || isZero(traceId) || isZero(spanId)) {
            return null;
        }
        return new TraceContext(traceId, spanId);
    }

    private static boolean isHex(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }

    private static boolean isZero(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) != '0') {
                return false;
            }
        }
        return true;
    }
}
