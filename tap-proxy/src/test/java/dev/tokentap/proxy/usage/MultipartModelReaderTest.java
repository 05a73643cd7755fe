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

    private static final String STREAM_FORM = "--b1\r\nContent-Disposition: form-data; name=\"file\"; "
            + "filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--b1-\r\n--b\r\n--b1\r\n"
            + "Content-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--b1\r\n"
            + "Content-Disposition: form-data; name=\"stream\"\r\n\r\n On \r\n--b1--\r\n";
    private static final String ADDED = "\r\n--b1\r\nContent-Disposition: form-data; name=\"stream_include_usage\""
            + "\r\n\r\ntrue\r\n--b1\r\nContent-Disposition: form-data; name=\"stream_continuous_usage_stats\""
            + "\r\n\r\ntrue";

    @Test
    void shouldAddTheUsageFieldsBeforeTheClosingDelimiterOfAStreamingFormAtEverySplit() {
        byte[] body = bytes(STREAM_FORM);
        int close = STREAM_FORM.lastIndexOf("\r\n--b1--");
        String expected = STREAM_FORM.substring(0, close) + ADDED + STREAM_FORM.substring(close);
        for (int split = 0; split <= body.length; split++) {
            MultipartModelReader reader = MultipartModelReader.forContentType("multipart/form-data; boundary=b1");

            byte[] out = Pieces.splitAt(reader::transform, body, split, split % 2 == 0);

            assertThat(text(out)).as("split at %d", split).isEqualTo(expected);
            assertThat(reader.model()).isEqualTo("whisper");
            assertThat(reader.stream()).isTrue();
            assertThat(reader.injected()).isTrue();
            assertThat(reader.injectedContinuousUsage()).isTrue();
        }
        MultipartModelReader oneByOne = MultipartModelReader.forContentType("multipart/form-data; boundary=b1");
        assertThat(text(Pieces.byteByByte(oneByOne::transform, body))).isEqualTo(expected);
    }

    @Test
    void shouldLeaveAFormAloneThatIsNoStreamOrAsksForUsageItself() {
        String notStream = STREAM_FORM.replace(" On ", "false");
        String asked = STREAM_FORM.replace("--b1--", "--b1\r\nContent-Disposition: form-data; "
                + "name=\"stream_include_usage\"\r\n\r\nyes\r\n--b1--");
        for (String form : new String[] {notStream, asked, FORM}) {
            for (int split = 0; split <= form.length(); split += 7) {
                MultipartModelReader reader = MultipartModelReader.forContentType("multipart/form-data; boundary=b1");

                byte[] out = Pieces.splitAt(reader::transform, bytes(form), split, false);

                assertThat(text(out)).isEqualTo(form);
                assertThat(reader.injected()).isFalse();
            }
        }
    }

    @Test
    void shouldAskOnlyForTheFinalUsageWhenContinuousUsageIsOff() {
        MultipartModelReader reader = MultipartModelReader.forContentType("multipart/form-data; boundary=b1", false);

        byte[] out = Pieces.splitAt(reader::transform, bytes(STREAM_FORM), 30, false);

        assertThat(text(out)).contains("name=\"stream_include_usage\"").doesNotContain("continuous");
        assertThat(reader.injectedContinuousUsage()).isFalse();
    }

    @Test
    void shouldReadBooleansAsVllmDoes() {
        for (String yes : new String[] {"true", "1", "on", "T", " yes ", "Y"}) {
            assertThat(MultipartModelReader.laxBoolean(yes)).as(yes).isTrue();
        }
        for (String no : new String[] {"false", "0", "off", "f", "No", "n"}) {
            assertThat(MultipartModelReader.laxBoolean(no)).as(no).isFalse();
        }
        assertThat(MultipartModelReader.laxBoolean("2")).isNull();
        assertThat(MultipartModelReader.laxBoolean("maybe")).isNull();
    }
}
