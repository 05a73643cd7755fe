package dev.tokentap.aggregator.topology;

import dev.tokentap.event.Cost;
import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The value serde of the totals store ({@link UsageTopology#TOTALS_STORE}) and its changelog: a compact binary form,
 * read and written once per counted event, where the JSON it replaces ({@link JsonSerde#totals()}) cost more than
 * the counting itself.
 *
 * <p>Values that versions before it stored are JSON objects (their first byte is {@code '{'}); they are read as
 * before, so a store or changelog written by such a version is taken over as it is, and each entry is rewritten in
 * the binary form the next time its label set is counted.
 *
 * <p>The form, after the version byte {@link #VERSION}: unsigned LEB128 variable-length longs for every count (none
 * is negative), strings as a length and UTF-8 bytes, decimals as their plain text:
 * prompt, completion, total and cached tokens; the requests as a count of outcomes, then each outcome and its count;
 * the duration and time-to-first-token histograms each as a count of buckets, the buckets and the sum in
 * milliseconds; reasoning tokens; audio seconds; the cost as a count of currencies, then each currency and amount;
 * unpriced requests.
 */
public final class TotalsSerde {

    /** The first byte of the binary form; a JSON value starts with {@code '{'}. */
    static final byte VERSION = 1;

    private static final Serializer<UsageTotals> SERIALIZER = (topic, totals) -> totals == null ? null
            : write(totals);
    private static final Deserializer<UsageTotals> DESERIALIZER = (topic, bytes) -> bytes == null ? null
            : read(bytes);
    private static final Deserializer<UsageTotals> JSON = JsonSerde.totals().deserializer();

    private TotalsSerde() {
    }

    /** The serde: writes the binary form, reads it and the JSON that earlier versions stored. */
    public static Serde<UsageTotals> totals() {
        return Serdes.serdeFrom(SERIALIZER, DESERIALIZER);
    }

    static byte[] write(UsageTotals totals) {
        Out out = new Out();
        out.buffer.write(VERSION);
        out.varLong(totals.promptTokens());
        out.varLong(totals.completionTokens());
        out.varLong(totals.totalTokens());
        out.varLong(totals.cachedTokens());
        out.varLong(totals.requests().size());
        for (Map.Entry<String, Long> outcome : totals.requests().entrySet()) {
            out.string(outcome.getKey());
            out.varLong(outcome.getValue());
        }
        out.histogram(totals.duration());
        out.histogram(totals.ttft());
        out.varLong(totals.reasoningTokens());
        out.string(totals.audioSeconds().toPlainString());
        out.varLong(totals.cost().amounts().size());
        for (Map.Entry<String, BigDecimal> amount : totals.cost().amounts().entrySet()) {
            out.string(amount.getKey());
            out.string(Cost.plain(amount.getValue()));
        }
        out.varLong(totals.unpriced());
        return out.buffer.toByteArray();
    }

    static UsageTotals read(byte[] bytes) {
        if (bytes.length > 0 && bytes[0] == '{') {
            return JSON.deserialize(null, bytes);
        }
        if (bytes.length == 0 || bytes[0] != VERSION) {
            throw new SerializationException("cannot read UsageTotals: unknown form "
                    + (bytes.length == 0 ? "(empty)" : Integer.toString(bytes[0] & 0xff)));
        }
        try {
            In in = new In(bytes);
            long prompt = in.varLong();
            long completion = in.varLong();
            long total = in.varLong();
            long cached = in.varLong();
            int outcomes = in.count();
            SortedMap<String, Long> requests = new TreeMap<>();
            for (int i = 0; i < outcomes; i++) {
                requests.put(in.string(), in.varLong());
            }
            LatencyHistogram duration = in.histogram();
            LatencyHistogram ttft = in.histogram();
            long reasoning = in.varLong();
            BigDecimal audio = new BigDecimal(in.string());
            int currencies = in.count();
            SortedMap<String, BigDecimal> amounts = new TreeMap<>();
            for (int i = 0; i < currencies; i++) {
                amounts.put(in.string(), new BigDecimal(in.string()));
            }
            long unpriced = in.varLong();
            if (in.at != bytes.length) {
                throw new SerializationException((bytes.length - in.at) + " bytes left over");
            }
            return new UsageTotals(prompt, completion, total, cached, requests, duration, ttft, reasoning, audio,
                    amounts.isEmpty() ? null : new Cost(amounts), unpriced);
        } catch (RuntimeException e) {
            // our own values in our own store: a failure here is a bug or a foreign writer
            throw new SerializationException("cannot read UsageTotals", e);
        }
    }

    private static final class Out {
        final ByteArrayOutputStream buffer = new ByteArrayOutputStream(96);

        void varLong(long value) {
            long v = value;
            while ((v & ~0x7FL) != 0) {
                buffer.write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            buffer.write((int) v);
        }

        void string(String value) {
            byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
            varLong(utf8.length);
            buffer.write(utf8, 0, utf8.length);
        }

        void histogram(LatencyHistogram histogram) {
            varLong(histogram.counts().size());
            for (Long count : histogram.counts()) {
                varLong(count);
            }
            varLong(histogram.sumMillis());
        }
    }

    private static final class In {
        final byte[] bytes;
        int at = 1;

        In(byte[] bytes) {
            this.bytes = bytes;
        }

        long varLong() {
            long value = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                byte b = bytes[at++];
                value |= (long) (b & 0x7F) << shift;
                if ((b & 0x80) == 0) {
                    return value;
                }
            }
            throw new SerializationException("a variable-length long longer than 10 bytes");
        }

        int count() {
            long n = varLong();
            if (n < 0 || n > bytes.length - at) {
                throw new SerializationException("a count of " + n + " with " + (bytes.length - at) + " bytes left");
            }
            return (int) n;
        }

        String string() {
            int length = count();
            String value = new String(bytes, at, length, StandardCharsets.UTF_8);
            at += length;
            return value;
        }

        LatencyHistogram histogram() {
            int buckets = count();
            List<Long> counts = new ArrayList<>(buckets);
            for (int i = 0; i < buckets; i++) {
                counts.add(varLong());
            }
            return new LatencyHistogram(counts, varLong());
        }
    }
}
