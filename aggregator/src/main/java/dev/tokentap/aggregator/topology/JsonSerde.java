package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import dev.tokentap.event.Cost;
import java.io.IOException;
import java.math.BigDecimal;
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
 * JSON serde for the aggregator's own keys and values. Output is deterministic for a given value (fixed property
 * order, sorted map keys), which matters for keys: their bytes pick the partition and the store entry.
 *
 * <p>Written field by field on Jackson's streaming API rather than by data binding: every event reads and writes a
 * totals value and a labels key more than once, and binding records by reflection cost more than the rest of the
 * counting. The bytes are the ones data binding wrote (the stores and topics hold those); reading skips unknown
 * fields and takes missing ones as absent, as binding did.
 */
public final class JsonSerde {

    private static final JsonFactory JSON = new JsonFactory();

    private static final String NAMESPACE = "namespace";
    private static final String CLIENT_NAME = "client_name";
    private static final String FULL_PATH = "full_path";
    private static final String HOSTNAME = "hostname";
    private static final String MODEL = "model";

    private static final String PROMPT_TOKENS = "prompt_tokens";
    private static final String COMPLETION_TOKENS = "completion_tokens";
    private static final String TOTAL_TOKENS = "total_tokens";
    private static final String CACHED_TOKENS = "cached_tokens";
    private static final String REQUESTS = "requests";
    private static final String DURATION = "duration";
    private static final String TTFT = "ttft";
    private static final String COUNTS = "counts";
    private static final String SUM_MS = "sum_ms";
    private static final String REASONING_TOKENS = "reasoning_tokens";
    private static final String AUDIO_SECONDS = "audio_seconds";
    private static final String COST = "cost";
    private static final String UNPRICED = "unpriced";
    private static final String ROUTE = "route";
    private static final String FIRST = "first";
    private static final String LAST = "last";

    private JsonSerde() {
    }

    /** The serde of the totals store's key (and the repartition topic's key). */
    public static Serde<UsageLabels> labels() {
        return of(JsonSerde::writeLabels, JsonSerde::readLabels, UsageLabels.class);
    }

    /** The serde of the totals store's value. */
    public static Serde<UsageTotals> totals() {
        return of(JsonSerde::writeTotals, JsonSerde::readTotals, UsageTotals.class);
    }

    /** The serde of the hourly repartition topic's key and of the hourly window store's key. */
    public static Serde<HourlyKey> hourlyKey() {
        return of(JsonSerde::writeHourlyKey, JsonSerde::readHourlyKey, HourlyKey.class);
    }

    /** The serde of the hourly window store's value. */
    public static Serde<UsageSums> sums() {
        return of(JsonSerde::writeSums, JsonSerde::readSums, UsageSums.class);
    }

    /** An hourly key as bytes, as {@link #hourlyKey()} writes it. */
    static byte[] hourlyKeyBytes(HourlyKey key) {
        return write(JsonSerde::writeHourlyKey, key, HourlyKey.class);
    }

    /** An hourly key from the bytes {@link #hourlyKeyBytes} wrote, from {@code offset} on. */
    static HourlyKey hourlyKey(byte[] bytes, int offset) {
        try (JsonParser json = JSON.createParser(bytes, offset, bytes.length - offset)) {
            expect(json.nextToken(), JsonToken.START_OBJECT);
            return readHourlyKey(json);
        } catch (IOException | RuntimeException e) {
            throw new SerializationException("cannot read HourlyKey", e);
        }
    }

    private interface Writer<T> {
        void write(JsonGenerator json, T value) throws IOException;
    }

    private interface Reader<T> {
        T read(JsonParser json) throws IOException;
    }

    private static <T> Serde<T> of(Writer<T> writer, Reader<T> reader, Class<T> type) {
        Serializer<T> serializer = (topic, data) -> data == null ? null : write(writer, data, type);
        Deserializer<T> deserializer = (topic, bytes) -> bytes == null ? null : read(reader, bytes, type);
        return Serdes.serdeFrom(serializer, deserializer);
    }

    private static <T> byte[] write(Writer<T> writer, T value, Class<T> type) {
        try (ByteArrayBuilder out = new ByteArrayBuilder(256)) {
            try (JsonGenerator json = JSON.createGenerator(out)) {
                writer.write(json, value);
            }
            return out.toByteArray();
        } catch (IOException | RuntimeException e) {
            throw new SerializationException("cannot write " + type.getSimpleName(), e);
        }
    }

    private static <T> T read(Reader<T> reader, byte[] bytes, Class<T> type) {
        try (JsonParser json = JSON.createParser(bytes)) {
            expect(json.nextToken(), JsonToken.START_OBJECT);
            return reader.read(json);
        } catch (IOException | RuntimeException e) {
            // our own records in our own internal topics: a failure here is a bug or a foreign writer
            throw new SerializationException("cannot read " + type.getSimpleName(), e);
        }
    }

    private static void writeLabels(JsonGenerator json, UsageLabels labels) throws IOException {
        json.writeStartObject();
        json.writeStringField(NAMESPACE, labels.namespace());
        json.writeStringField(CLIENT_NAME, labels.clientName());
        json.writeStringField(FULL_PATH, labels.fullPath());
        json.writeStringField(HOSTNAME, labels.hostname());
        json.writeStringField(MODEL, labels.model());
        json.writeEndObject();
    }

    private static UsageLabels readLabels(JsonParser json) throws IOException {
        String namespace = null;
        String clientName = null;
        String fullPath = null;
        String hostname = null;
        String model = null;
        String name;
        while ((name = json.nextFieldName()) != null) {
            JsonToken value = json.nextToken();
            switch (name) {
                case NAMESPACE -> namespace = string(json, value);
                case CLIENT_NAME -> clientName = string(json, value);
                case FULL_PATH -> fullPath = string(json, value);
                case HOSTNAME -> hostname = string(json, value);
                case MODEL -> model = string(json, value);
                default -> json.skipChildren();
            }
        }
        return new UsageLabels(namespace, clientName, fullPath, hostname, model);
    }

    private static void writeTotals(JsonGenerator json, UsageTotals totals) throws IOException {
        json.writeStartObject();
        json.writeNumberField(PROMPT_TOKENS, totals.promptTokens());
        json.writeNumberField(COMPLETION_TOKENS, totals.completionTokens());
        json.writeNumberField(TOTAL_TOKENS, totals.totalTokens());
        json.writeNumberField(CACHED_TOKENS, totals.cachedTokens());
        json.writeObjectFieldStart(REQUESTS);
        // a SortedMap of strings: its own order is the sorted order data binding wrote
        for (Map.Entry<String, Long> outcome : totals.requests().entrySet()) {
            json.writeNumberField(outcome.getKey(), outcome.getValue());
        }
        json.writeEndObject();
        writeHistogram(json, DURATION, totals.duration());
        writeHistogram(json, TTFT, totals.ttft());
        // written only when there is something: totals of a version without them stay byte for byte the same
        if (totals.reasoningTokens() != 0) {
            json.writeNumberField(REASONING_TOKENS, totals.reasoningTokens());
        }
        if (totals.audioSeconds().signum() != 0) {
            json.writeFieldName(AUDIO_SECONDS);
            json.writeNumber(totals.audioSeconds().toPlainString());
        }
        if (!totals.cost().isEmpty()) {
            writeCost(json, totals.cost());
        }
        if (totals.unpriced() != 0) {
            json.writeNumberField(UNPRICED, totals.unpriced());
        }
        json.writeEndObject();
    }

    private static void writeCost(JsonGenerator json, Cost cost) throws IOException {
        json.writeObjectFieldStart(COST);
        for (Map.Entry<String, BigDecimal> amount : cost.amounts().entrySet()) {
            json.writeStringField(amount.getKey(), Cost.plain(amount.getValue()));
        }
        json.writeEndObject();
    }

    private static Cost readCost(JsonParser json, JsonToken start) throws IOException {
        if (start == JsonToken.VALUE_NULL) {
            return null;
        }
        expect(start, JsonToken.START_OBJECT);
        SortedMap<String, BigDecimal> amounts = new TreeMap<>();
        String currency;
        while ((currency = json.nextFieldName()) != null) {
            json.nextToken();
            amounts.put(currency, new BigDecimal(json.getValueAsString()));
        }
        return new Cost(amounts);
    }

    private static BigDecimal readDecimal(JsonParser json, JsonToken value) throws IOException {
        if (value == JsonToken.VALUE_NULL) {
            return null;
        }
        return value == JsonToken.VALUE_STRING ? new BigDecimal(json.getText()) : json.getDecimalValue();
    }

    private static void writeHourlyKey(JsonGenerator json, HourlyKey key) throws IOException {
        json.writeStartObject();
        json.writeStringField(NAMESPACE, key.namespace());
        json.writeStringField(CLIENT_NAME, key.clientName());
        json.writeStringField(MODEL, key.model());
        json.writeStringField(ROUTE, key.route());
        json.writeEndObject();
    }

    private static HourlyKey readHourlyKey(JsonParser json) throws IOException {
        String namespace = null;
        String clientName = null;
        String model = null;
        String route = null;
        String name;
        while ((name = json.nextFieldName()) != null) {
            JsonToken value = json.nextToken();
            switch (name) {
                case NAMESPACE -> namespace = string(json, value);
                case CLIENT_NAME -> clientName = string(json, value);
                case MODEL -> model = string(json, value);
                case ROUTE -> route = string(json, value);
                default -> json.skipChildren();
            }
        }
        return new HourlyKey(namespace, clientName, model, route);
    }

    private static void writeSums(JsonGenerator json, UsageSums sums) throws IOException {
        json.writeStartObject();
        json.writeObjectFieldStart(REQUESTS);
        for (Map.Entry<String, Long> outcome : sums.requests().entrySet()) {
            json.writeNumberField(outcome.getKey(), outcome.getValue());
        }
        json.writeEndObject();
        json.writeNumberField(PROMPT_TOKENS, sums.promptTokens());
        json.writeNumberField(COMPLETION_TOKENS, sums.completionTokens());
        json.writeNumberField(TOTAL_TOKENS, sums.totalTokens());
        json.writeNumberField(CACHED_TOKENS, sums.cachedTokens());
        json.writeNumberField(REASONING_TOKENS, sums.reasoningTokens());
        json.writeFieldName(AUDIO_SECONDS);
        json.writeNumber(sums.audioSeconds().toPlainString());
        if (!sums.cost().isEmpty()) {
            writeCost(json, sums.cost());
        }
        json.writeNumberField(UNPRICED, sums.unpricedRequests());
        if (sums.firstEventAt() != null) {
            json.writeNumberField(FIRST, sums.firstEventAt());
        }
        if (sums.lastEventAt() != null) {
            json.writeNumberField(LAST, sums.lastEventAt());
        }
        json.writeEndObject();
    }

    private static UsageSums readSums(JsonParser json) throws IOException {
        SortedMap<String, Long> requests = null;
        long prompt = 0;
        long completion = 0;
        long total = 0;
        long cached = 0;
        long reasoning = 0;
        BigDecimal audio = null;
        Cost cost = null;
        long unpriced = 0;
        Long first = null;
        Long last = null;
        String name;
        while ((name = json.nextFieldName()) != null) {
            JsonToken value = json.nextToken();
            switch (name) {
                case REQUESTS -> requests = value == JsonToken.VALUE_NULL ? null : readRequests(json, value);
                case PROMPT_TOKENS -> prompt = json.getValueAsLong();
                case COMPLETION_TOKENS -> completion = json.getValueAsLong();
                case TOTAL_TOKENS -> total = json.getValueAsLong();
                case CACHED_TOKENS -> cached = json.getValueAsLong();
                case REASONING_TOKENS -> reasoning = json.getValueAsLong();
                case AUDIO_SECONDS -> audio = readDecimal(json, value);
                case COST -> cost = readCost(json, value);
                case UNPRICED -> unpriced = json.getValueAsLong();
                case FIRST -> first = value == JsonToken.VALUE_NULL ? null : json.getValueAsLong();
                case LAST -> last = value == JsonToken.VALUE_NULL ? null : json.getValueAsLong();
                default -> json.skipChildren();
            }
        }
        return new UsageSums(requests, prompt, completion, total, cached, reasoning, audio, cost, unpriced, first,
                last);
    }

    private static void writeHistogram(JsonGenerator json, String name, LatencyHistogram histogram)
            throws IOException {
        json.writeObjectFieldStart(name);
        json.writeArrayFieldStart(COUNTS);
        for (Long count : histogram.counts()) {
            json.writeNumber(count);
        }
        json.writeEndArray();
        json.writeNumberField(SUM_MS, histogram.sumMillis());
        json.writeEndObject();
    }

    private static UsageTotals readTotals(JsonParser json) throws IOException {
        long prompt = 0;
        long completion = 0;
        long total = 0;
        long cached = 0;
        SortedMap<String, Long> requests = null;
        LatencyHistogram duration = null;
        LatencyHistogram ttft = null;
        long reasoning = 0;
        BigDecimal audio = null;
        Cost cost = null;
        long unpriced = 0;
        String name;
        while ((name = json.nextFieldName()) != null) {
            JsonToken value = json.nextToken();
            switch (name) {
                case PROMPT_TOKENS -> prompt = json.getValueAsLong();
                case COMPLETION_TOKENS -> completion = json.getValueAsLong();
                case TOTAL_TOKENS -> total = json.getValueAsLong();
                case CACHED_TOKENS -> cached = json.getValueAsLong();
                case REQUESTS -> requests = value == JsonToken.VALUE_NULL ? null : readRequests(json, value);
                case DURATION -> duration = value == JsonToken.VALUE_NULL ? null : readHistogram(json, value);
                case TTFT -> ttft = value == JsonToken.VALUE_NULL ? null : readHistogram(json, value);
                case REASONING_TOKENS -> reasoning = json.getValueAsLong();
                case AUDIO_SECONDS -> audio = readDecimal(json, value);
                case COST -> cost = readCost(json, value);
                case UNPRICED -> unpriced = json.getValueAsLong();
                default -> json.skipChildren();
            }
        }
        return new UsageTotals(prompt, completion, total, cached, requests, duration, ttft, reasoning, audio, cost,
                unpriced);
    }

    private static SortedMap<String, Long> readRequests(JsonParser json, JsonToken start) throws IOException {
        expect(start, JsonToken.START_OBJECT);
        SortedMap<String, Long> requests = new TreeMap<>();
        String outcome;
        while ((outcome = json.nextFieldName()) != null) {
            JsonToken value = json.nextToken();
            requests.put(outcome, value == JsonToken.VALUE_NULL ? null : json.getValueAsLong());
        }
        return requests;
    }

    private static LatencyHistogram readHistogram(JsonParser json, JsonToken start) throws IOException {
        expect(start, JsonToken.START_OBJECT);
        List<Long> counts = null;
        long sum = 0;
        String name;
        while ((name = json.nextFieldName()) != null) {
            JsonToken value = json.nextToken();
            switch (name) {
                case COUNTS -> {
                    if (value != JsonToken.VALUE_NULL) {
                        expect(value, JsonToken.START_ARRAY);
                        counts = new ArrayList<>();
                        while (json.nextToken() != JsonToken.END_ARRAY) {
                            counts.add(json.getValueAsLong());
                        }
                    }
                }
                case SUM_MS -> sum = json.getValueAsLong();
                default -> json.skipChildren();
            }
        }
        return new LatencyHistogram(counts, sum);
    }

    private static String string(JsonParser json, JsonToken value) throws IOException {
        return value == JsonToken.VALUE_NULL ? null : json.getValueAsString();
    }

    private static void expect(JsonToken actual, JsonToken expected) throws IOException {
        if (actual != expected) {
            throw new IOException("expected " + expected + ", found " + actual);
        }
    }
}
