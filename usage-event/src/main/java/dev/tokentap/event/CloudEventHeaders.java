package dev.tokentap.event;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.kafka.common.header.Headers;

/**
 * CloudEvents 1.0 Kafka binary-mode headers for a {@link UsageEvent}, so that CloudEvents consumers read the
 * usage log as it is. The record value is the event's JSON.
 */
public final class CloudEventHeaders {
    public static final String SPEC_VERSION = "ce_specversion";
    public static final String ID = "ce_id";
    public static final String SOURCE = "ce_source";
    public static final String TYPE = "ce_type";
    public static final String TIME = "ce_time";
    public static final String CONTENT_TYPE = "content-type";

    public static final String SPEC_VERSION_VALUE = "1.0";
    public static final String TYPE_VALUE = "dev.tokentap.usage.v1";
    public static final String CONTENT_TYPE_VALUE = "application/json";
    /** {@code ce_source} is this prefix followed by the proxy's host name. */
    public static final String SOURCE_PREFIX = "tokentap/";

    private CloudEventHeaders() {
    }

    /**
     * Replaces the CloudEvents headers on {@code headers} with the ones for {@code event}. {@code ce_time} is when
     * the request ended (when its usage became known), or when it started if it has no end.
     */
    public static void write(UsageEvent event, Headers headers) {
        Long time = event.endedAt() != null ? event.endedAt() : event.startedAt();
        write(headers, event.eventId(), SOURCE_PREFIX + (event.proxyHost() == null ? "unknown" : event.proxyHost()),
                TYPE_VALUE, time);
    }

    /**
     * Replaces the CloudEvents headers on {@code headers} with those of a JSON record of {@code type}: what every
     * tokentap topic carries. {@code ce_time} is left out when {@code epochMillis} is null.
     */
    static void write(Headers headers, String id, String source, String type, Long epochMillis) {
        set(headers, SPEC_VERSION, SPEC_VERSION_VALUE);
        set(headers, ID, id);
        set(headers, SOURCE, source);
        set(headers, TYPE, type);
        if (epochMillis != null) {
            set(headers, TIME, Instant.ofEpochMilli(epochMillis).toString());
        }
        set(headers, CONTENT_TYPE, CONTENT_TYPE_VALUE);
    }

    /** The value of the last header named {@code key}, or null. */
    public static String read(Headers headers, String key) {
        var header = headers.lastHeader(key);
        return header == null || header.value() == null ? null : new String(header.value(), StandardCharsets.UTF_8);
    }

    private static void set(Headers headers, String key, String value) {
        headers.remove(key);
        if (value != null) {
            headers.add(key, value.getBytes(StandardCharsets.UTF_8));
        }
    }
}
