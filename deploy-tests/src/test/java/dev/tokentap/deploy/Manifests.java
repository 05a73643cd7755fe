package dev.tokentap.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Kubernetes manifests as trees: the files under deploy/, or what kustomize and Helm render from them. */
final class Manifests {

    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    static final ObjectMapper JSON = new ObjectMapper();

    private Manifests() {
    }

    /** The repository's deploy/ folder (the build passes it; from an IDE the working directory is the module). */
    static Path deployDir() {
        String configured = System.getProperty("tokentap.deployDir");
        Path dir = configured != null ? Path.of(configured) : Path.of("..", "deploy");
        if (!Files.isDirectory(dir.resolve("base"))) {
            throw new IllegalStateException("deploy/ not found at " + dir.toAbsolutePath());
        }
        return dir.toAbsolutePath().normalize();
    }

    /** Every document of a multi-document YAML file, empty documents left out. */
    static List<JsonNode> read(Path file) {
        try {
            return parse(Files.readString(file));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /** Every document of a multi-document YAML text, empty documents left out. */
    static List<JsonNode> parse(String yaml) {
        List<JsonNode> documents = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(yaml)) {
            while (it.hasNext()) {
                JsonNode document = it.next();
                if (document != null && !document.isNull() && !document.isMissingNode() && document.size() > 0) {
                    documents.add(document);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("not YAML", e);
        }
        return documents;
    }

    static List<JsonNode> ofKind(List<JsonNode> documents, String kind) {
        return documents.stream().filter(d -> kind.equals(d.path("kind").asText())).toList();
    }

    static String name(JsonNode document) {
        return document.path("metadata").path("name").asText();
    }

    /** {@code Kind/name}, how kubectl names an object. */
    static String id(JsonNode document) {
        return document.path("kind").asText() + "/" + name(document);
    }
}
