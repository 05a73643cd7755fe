package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.bytes;
import static dev.tokentap.proxy.usage.Pieces.text;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class MultipartModelReaderTest {

    private static final String FORM = "--b1\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
            + "openai/whisper-large-v3\r\n--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\""
            + "\r\nContent-Type: audio/wav\r\n\r\nRIFF....\r\n--b1--\r\n";

    @Test
    void shouldReadTheModelFieldAtEverySplitAndPassEveryByte() {
        byte[] body = bytes(FORM);
        for (int split = 0; split <= body.length; split++) {
            MultipartModelReader reader = MultipartModelReader.forContentType("multipart/form-data; boundary=b1");

            byte[] out = Pieces.splitAt(reader::transform, body, split, split % 2 == 0);

            assertThat(text(out)).isEqualTo(FORM);
            assertThat(reader.model()).as("split at %d", split).isEqualTo("openai/whisper-large-v3");
        }
    }

    @Test
    void shouldOnlyReadMultipartForms() {
        assertThat(MultipartModelReader.forContentType("application/json")).isNull();
        assertThat(MultipartModelReader.forContentType("multipart/form-data")).isNull();
        assertThat(MultipartModelReader.forContentType(null)).isNull();
    }
}
