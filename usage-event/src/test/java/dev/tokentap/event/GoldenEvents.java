package dev.tokentap.event;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;

/** The golden usage events under {@code src/test/resources}, shared with the modules that produce and read them. */
public final class GoldenEvents {

    /** Valid events, by file name without {@code .json}. */
    public static final List<String> VALID = List.of("chat-stream-ok", "completion-ok", "upstream-unreachable",
            "from-a-newer-producer", "embeddings-ok", "transcription-duration", "chat-stream-client-aborted",
            "usage-invalid", "responses-retrieval");

    /** Records a reader must reject, by file name, each with the decode reason it must give. */
    public static final List<List<String>> INVALID = List.of(
            List.of("missing-event-id.json", UsageEventDecodeException.MISSING_FIELD),
            List.of("array.json", UsageEventDecodeException.MALFORMED),
            List.of("garbage.bin", UsageEventDecodeException.MALFORMED),
            List.of("future-major-version.json", UsageEventDecodeException.UNSUPPORTED_VERSION),
            List.of("wrong-type.json", UsageEventDecodeException.MALFORMED));

    private GoldenEvents() {
    }

    /** The bytes of the valid golden event {@code name}. */
    public static byte[] valid(String name) {
        return resource("/golden/" + name + ".json");
    }

    /** The bytes of the invalid record file {@code fileName}. */
    public static byte[] invalid(String fileName) {
        return resource("/invalid/" + fileName);
    }

    private static byte[] resource(String path) {
        try (InputStream in = GoldenEvents.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalArgumentException("no golden file " + path);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
