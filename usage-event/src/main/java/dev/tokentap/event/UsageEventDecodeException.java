package dev.tokentap.event;

/**
 * A usage log record that is not a readable {@link UsageEvent}. Consumers count it and set it aside (the
 * aggregator sends it to {@link Topics#DLQ}); it never stops them. {@link #reason()} is a short, bounded code
 * suitable for a metric tag or a header.
 */
public final class UsageEventDecodeException extends RuntimeException {
    /** Not JSON, or JSON of the wrong shape. */
    public static final String MALFORMED = "malformed";
    /** A field the contract requires is missing or blank. */
    public static final String MISSING_FIELD = "missing_field";
    /** A schema version this consumer cannot read. */
    public static final String UNSUPPORTED_VERSION = "unsupported_version";
    /** A null or empty record value. */
    public static final String EMPTY = "empty";

    private final String reason;

    public UsageEventDecodeException(String reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public UsageEventDecodeException(String reason, String message) {
        this(reason, message, null);
    }

    /** One of {@link #MALFORMED}, {@link #MISSING_FIELD}, {@link #UNSUPPORTED_VERSION}, {@link #EMPTY}. */
    public String reason() {
        return reason;
    }
}
