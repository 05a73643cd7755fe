package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class SseTokenEventsTest {

    private static final String ROLE = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
    private static final String TOKEN = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok\"}}]}\n\n";
    private static final String DONE = "data: [DONE]\n\n";

    private static ByteBuffer bytes(String text) {
        return ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void shouldCountTokenEventsButNotTheRoleChunkOrDone() {
        SseTokenEvents events = new SseTokenEvents();

        assertThat(events.feed(bytes(ROLE + TOKEN))).isEqualTo(1);
        assertThat(events.feed(bytes(TOKEN))).isEqualTo(1);
        assertThat(events.feed(bytes(TOKEN + DONE))).isEqualTo(1);
        assertThat(events.tokens()).isEqualTo(3);
    }

    @Test
    void shouldCountAnEventSplitAcrossReadsOnceWhenItEnds() {
        SseTokenEvents events = new SseTokenEvents();
        String twoTokens = TOKEN + TOKEN;
        int cut = TOKEN.length() - 1;

        assertThat(events.feed(bytes(twoTokens.substring(0, cut)))).isZero();
        assertThat(events.feed(bytes(twoTokens.substring(cut, cut + 1)))).isEqualTo(1);
        assertThat(events.feed(bytes(twoTokens.substring(cut + 1)))).isEqualTo(1);
    }

    @Test
    void shouldReportBunchedEventsOfOneRead() {
        SseTokenEvents events = new SseTokenEvents();

        assertThat(events.feed(bytes(TOKEN + TOKEN + TOKEN))).isEqualTo(3);
    }

    @Test
    void shouldAcceptCarriageReturnLineEnds() {
        SseTokenEvents events = new SseTokenEvents();

        assertThat(events.feed(bytes(TOKEN.replace("\n", "\r\n")))).isEqualTo(1);
    }
}
