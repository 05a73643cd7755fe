package dev.tokentap.event;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeader;

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

    // the same on every usage event: made once and shared (a header's bytes are never changed once made)
    private static final Header SPEC_VERSION_HEADER = header(SPEC_VERSION, SPEC_VERSION_VALUE);
    private static final Header TYPE_HEADER = header(TYPE, TYPE_VALUE);
    private static final Header CONTENT_TYPE_HEADER = header(CONTENT_TYPE, CONTENT_TYPE_VALUE);

    private static final Header UNKNOWN_SOURCE_HEADER = header(SOURCE, SOURCE_PREFIX + "unknown");
    /** The last {@code ce_source} made: one proxy names one host in all its events. */
    private static volatile SourceHeader lastSource = new SourceHeader("", header(SOURCE, SOURCE_PREFIX));
    /** The last second {@code ce_time} was written for, as RFC 3339 up to the seconds. */
    private static volatile Second lastSecond = new Second(0, secondPrefix(0));

    private record SourceHeader(String proxyHost, Header header) {
    }

    private record Second(long epochSecond, byte[] prefix) {
    }

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
     * The CloudEvents headers of {@code event}, in the order a record carries them: {@code ce_specversion},
     * {@code ce_id}, {@code ce_source}, {@code ce_type}, {@code ce_time} (left out when the event has neither an
     * end nor a start), {@code content-type}. The headers every event of a proxy shares are made once; the array
     * is the caller's. A header's value must not be changed.
     */
    public static Header[] of(UsageEvent event) {
        Long time = event.endedAt() != null ? event.endedAt() : event.startedAt();
        Header[] headers = new Header[6];
        int n = 0;
        headers[n++] = SPEC_VERSION_HEADER;
        if (event.eventId() != null) {
            headers[n++] = new RecordHeader(ID, utf8(event.eventId()));
        }
        headers[n++] = source(event.proxyHost());
        headers[n++] = TYPE_HEADER;
        if (time != null) {
            headers[n++] = new RecordHeader(TIME, time(time));
        }
        headers[n++] = CONTENT_TYPE_HEADER;
        return n == headers.length ? headers : Arrays.copyOf(headers, n);
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
            headers.remove(TIME);
            headers.add(TIME, time(epochMillis));
        }
        set(headers, CONTENT_TYPE, CONTENT_TYPE_VALUE);
    }

    /** The value of the last header named {@code key}, or null. */
    public static String read(Headers headers, String key) {
        var header = headers.lastHeader(key);
        return header == null || header.value() == null ? null : new String(header.value(), StandardCharsets.UTF_8);
    }

    /**
     * {@code epochMillis} as {@link Instant#toString()} writes it (RFC 3339 in UTC, the milliseconds only when not
     * zero), in bytes; the part up to the seconds is kept from the last call, since events come many a second.
     */
    static byte[] time(long epochMillis) {
        long epochSecond = Math.floorDiv(epochMillis, 1000L);
        int millis = (int) Math.floorMod(epochMillis, 1000L);
        Second second = lastSecond;
        if (second.epochSecond != epochSecond) {
            second = new Second(epochSecond, secondPrefix(epochSecond));
            lastSecond = second;
        }
        byte[] prefix = second.prefix;
        if (millis == 0) {
            byte[] time = new byte[prefix.length + 1];
            System.arraycopy(prefix, 0, time, 0, prefix.length);
            time[prefix.length] = 'Z';
            return time;
        }
        byte[] time = new byte[prefix.length + 5];
        System.arraycopy(prefix, 0, time, 0, prefix.length);
        time[prefix.length] = '.';
        time[prefix.length + 1] = (byte) ('0' + millis / 100);
        time[prefix.length + 2] = (byte) ('0' + millis / 10 % 10);
        time[prefix.length + 3] = (byte) ('0' + millis % 10);
        time[prefix.length + 4] = 'Z';
        return time;
    }

    /** The second as {@link Instant#toString()} writes it, without its closing {@code Z}. */
    private static byte[] secondPrefix(long epochSecond) {
        String second = Instant.ofEpochSecond(epochSecond).toString();
        return second.substring(0, second.length() - 1).getBytes(StandardCharsets.US_ASCII);
    }

    private static Header source(String proxyHost) {
        if (proxyHost == null) {
            return UNKNOWN_SOURCE_HEADER;
        }
        SourceHeader last = lastSource;
        if (last.proxyHost.equals(proxyHost)) {
            return last.header;
        }
        SourceHeader made = new SourceHeader(proxyHost, header(SOURCE, SOURCE_PREFIX + proxyHost));
        lastSource = made;
        return made.header;
    }

    private static Header header(String key, String value) {
        return new RecordHeader(key, utf8(value));
    }

    private static byte[] utf8(String value) {
        return value == null ? null : value.getBytes(StandardCharsets.UTF_8);
    }

    private static void set(Headers headers, String key, String value) {
        headers.remove(key);
        if (value != null) {
            headers.add(key, value.getBytes(StandardCharsets.UTF_8));
        }
    }
}
