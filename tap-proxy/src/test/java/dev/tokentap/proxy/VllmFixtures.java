package dev.tokentap.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The golden fixtures under {@code src/test/resources/vllm-fixtures/<profile>/}, made from vLLM's own pydantic
 * classes at the commits their READMEs name: each one request, the bytes vLLM answers it with, and for streams the
 * request as the proxy rewrites it ({@code metered_request}) with vLLM's answer to that ({@code metered_response}).
 */
public final class VllmFixtures {

    /** The two generations of vLLM the fixtures were made from. */
    public static final List<String> PROFILES = List.of("current", "legacy");

    private static final ObjectMapper JSON = new ObjectMapper();

    private VllmFixtures() {
    }

    /** One fixture of one profile. */
    public record Fixture(String profile, JsonNode entry) {
        public String name() {
            return entry.get("name").asText();
        }

        public String path() {
            return entry.get("path").asText();
        }

        public boolean metered() {
            return entry.has("metered_response");
        }

        /** The upstream ran with {@code --enable-force-include-usage}. */
        public boolean forceIncludeUsage() {
            for (JsonNode flag : entry.path("server_flags")) {
                if (flag.asText().equals("--enable-force-include-usage")) {
                    return true;
                }
            }
            return false;
        }

        public byte[] file(String member) {
            return bytes(profile + "/" + entry.get(member).asText());
        }

        public JsonNode usage() {
            return entry.path("usage");
        }

        @Override
        public String toString() {
            return profile + "/" + name();
        }
    }

    /** Every fixture of every profile. */
    public static Stream<Fixture> all() {
        List<Fixture> all = new ArrayList<>();
        for (String profile : PROFILES) {
            try {
                JsonNode manifest = JSON.readTree(bytes(profile + "/manifest.json"));
                manifest.get("fixtures").forEach(entry -> all.add(new Fixture(profile, entry)));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return all.stream();
    }

    static byte[] bytes(String resource) {
        try (InputStream in = VllmFixtures.class.getResourceAsStream("/vllm-fixtures/" + resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no fixture file " + resource);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
