package dev.tokentap.event;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class CloudEventHeadersTest {

    private final UsageEventCodec codec = new UsageEventCodec();

    @Test
    void shouldMakeTheHeadersTheSerdeWritesInTheSameOrderForEveryEvent() {
        List<UsageEvent> events = new ArrayList<>();
        for (String name : GoldenEvents.VALID) {
            events.add(codec.decode(GoldenEvents.valid(name)));
        }
        UsageEvent any = events.get(0);
        events.add(any.toBuilder().proxyHost(null).build());
        events.add(any.toBuilder().proxyHost("another-proxy").build());
        events.add(any.toBuilder().startedAt(null).endedAt(null).build());
        events.add(any.toBuilder().endedAt(null).startedAt(1_763_800_000_007L).build());
        events.add(any.toBuilder().endedAt(1_763_800_000_000L).build());
        events.add(any.toBuilder().eventId(null).build());

        for (UsageEvent event : events) {
            RecordHeaders written = new RecordHeaders();
            CloudEventHeaders.write(event, written);

            assertThat(pairs(List.of(CloudEventHeaders.of(event)))).as(event.eventId())
                    .containsExactlyElementsOf(pairs(written));
        }
    }

    @Test
    void shouldShareTheHeadersThatAreTheSameForEveryEventOfAProxy() {
        UsageEvent event = codec.decode(GoldenEvents.valid("chat-stream-ok"));
        UsageEvent next = event.toBuilder().eventId("019a9c41-0000-7000-8000-000000000001").build();

        Header[] first = CloudEventHeaders.of(event);
        Header[] second = CloudEventHeaders.of(next);

        assertThat(second[0]).isSameAs(first[0]);
        // (the source is kept for the last host asked for, which a test running beside this one may change)
        assertThat(second[2].value()).isEqualTo(first[2].value());
        assertThat(second[3]).isSameAs(first[3]);
        assertThat(second[5]).isSameAs(first[5]);
        assertThat(second[1]).isNotSameAs(first[1]);
    }

    @Test
    void shouldWriteTheTimeAsInstantDoes() {
        List<Long> millis = new ArrayList<>(List.of(0L, 1L, -1L, 999L, 1000L, 1001L, -999L, -1000L, -1001L,
                1_763_800_000_000L, 1_763_800_000_460L, 1_763_800_000_046L, 253_402_300_799_999L,
                253_402_300_800_000L, -62_135_596_800_001L));
        SplittableRandom random = new SplittableRandom(15);
        for (int i = 0; i < 10_000; i++) {
            millis.add(random.nextLong(-100_000_000_000_000L, 300_000_000_000_000L));
        }
        // and many in one second, as a busy proxy has them
        for (long m = 1_763_800_000_000L; m < 1_763_800_002_000L; m++) {
            millis.add(m);
        }

        for (long m : millis) {
            assertThat(new String(CloudEventHeaders.time(m), StandardCharsets.US_ASCII)).as("%d", m)
                    .isEqualTo(Instant.ofEpochMilli(m).toString());
        }
    }

    private static List<Map.Entry<String, String>> pairs(Iterable<Header> headers) {
        List<Map.Entry<String, String>> pairs = new ArrayList<>();
        for (Header header : headers) {
            pairs.add(Map.entry(header.key(), new String(header.value(), StandardCharsets.UTF_8)));
        }
        return pairs;
    }
}
