package dev.tokentap.event;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads and writes {@link UsageEvent} JSON. Writing leaves out null fields. Reading tolerates fields it does not
 * know (a newer producer may add some) and rejects, with a {@link UsageEventDecodeException}, anything that is not
 * an event this version can count. Thread-safe; share one instance.
 */
public final class UsageEventCodec {

    /** Highest {@code schema_version} this reader accepts; newer majors would get a new topic. */
    public static final int MAX_SCHEMA_VERSION = UsageEvent.SCHEMA_VERSION;

    private static final ObjectMapper MAPPER = newMapper();

    /** The mapper settings the contract uses, for modules that write related records (the enriched event). */
    public static ObjectMapper newMapper() {
        return JsonMapper.builder()
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .serializationInclusion(JsonInclude.Include.NON_NULL)
                .build();
    }

    /** The event as UTF-8 JSON. */
    public byte[] encode(UsageEvent event) {
        try {
            return MAPPER.writeValueAsBytes(event);
        } catch (JsonProcessingException e) {
            // a record of strings and numbers always serialises; reaching this is a bug
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Writes the event as UTF-8 JSON to {@code out}, the same bytes as {@link #encode(UsageEvent)} gives, for a
     * writer that frames it with bytes of its own without a copy in between.
     */
    public void encode(UsageEvent event, OutputStream out) {
        try {
            MAPPER.writeValue(out, event);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The event in {@code json}.
     *
     * @throws UsageEventDecodeException when the bytes are empty, not a JSON object of the contract's shape, lack
     *                                   a required field, or carry an unsupported schema version
     */
    public UsageEvent decode(byte[] json) {
        if (json == null || json.length == 0) {
            throw new UsageEventDecodeException(UsageEventDecodeException.EMPTY, "empty record value");
        }
        UsageEvent event;
        try {
            event = MAPPER.readValue(json, UsageEvent.class);
        } catch (JsonProcessingException e) {
            throw new UsageEventDecodeException(UsageEventDecodeException.MALFORMED,
                    "not a usage event: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UsageEventDecodeException(UsageEventDecodeException.MALFORMED,
                    "not a usage event: " + e.getMessage(), e);
        }
        if (event == null) {
            throw new UsageEventDecodeException(UsageEventDecodeException.MALFORMED, "not a usage event: null");
        }
        validate(event);
        return event;
    }

    private static void validate(UsageEvent event) {
        if (event.schemaVersion() < 1 || event.schemaVersion() > MAX_SCHEMA_VERSION) {
            throw new UsageEventDecodeException(UsageEventDecodeException.UNSUPPORTED_VERSION,
                    "unsupported schema_version " + event.schemaVersion());
        }
        List<String> missing = new ArrayList<>();
        if (blank(event.eventId())) missing.add("event_id");
        if (blank(event.route())) missing.add("route");
        if (blank(event.outcome())) missing.add("outcome");
        if (!missing.isEmpty()) {
            throw new UsageEventDecodeException(UsageEventDecodeException.MISSING_FIELD,
                    "usage event lacks " + String.join(", ", missing));
        }
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
