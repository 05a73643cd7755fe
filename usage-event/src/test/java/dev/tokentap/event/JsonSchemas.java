package dev.tokentap.event;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.Collectors;

/** Test helper: the published JSON Schemas, and the field names a schema and a record each declare. */
final class JsonSchemas {

    private JsonSchemas() {
    }

    /** The draft 2020-12 schema at classpath {@code resource}. */
    static JsonSchema load(String resource) {
        try (InputStream in = open(resource)) {
            return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The names under the schema's top-level {@code properties}. */
    static Set<String> properties(String resource) {
        try (InputStream in = open(resource)) {
            Set<String> names = new HashSet<>();
            new ObjectMapper().readTree(in).get("properties").fieldNames().forEachRemaining(names::add);
            return names;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The record's components as the codec names them in JSON (snake_case). */
    static Set<String> snakeCaseComponents(Class<? extends Record> type) {
        PropertyNamingStrategies.SnakeCaseStrategy snakeCase = new PropertyNamingStrategies.SnakeCaseStrategy();
        return Arrays.stream(type.getRecordComponents())
                .map(c -> snakeCase.translate(c.getName()))
                .collect(Collectors.toSet());
    }

    private static InputStream open(String resource) {
        InputStream in = JsonSchemas.class.getResourceAsStream(resource);
        if (in == null) {
            throw new IllegalArgumentException("no schema " + resource);
        }
        return in;
    }
}
