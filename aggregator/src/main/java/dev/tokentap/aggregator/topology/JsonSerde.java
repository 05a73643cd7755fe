package dev.tokentap.aggregator.topology;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import java.io.IOException;
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
        json.writeEndObject();
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
                default -> json.skipChildren();
            }
        }
        return new UsageTotals(prompt, completion, total, cached, requests, duration, ttft);
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
