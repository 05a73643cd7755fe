package dev.tokentap.proxy.publish;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.event.CloudEventHeaders;
import dev.tokentap.event.GoldenEvents;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventDecodeException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class SpoolRecordFormatTest {

    private final UsageEventCodec codec = new UsageEventCodec();
    private final SpoolRecordFormat writer = new SpoolRecordFormat(codec);
    private final SpoolRecordFormat reader = new SpoolRecordFormat(codec);

    static Stream<UsageEvent> events() {
        UsageEventCodec codec = new UsageEventCodec();
        List<UsageEvent> events = new ArrayList<>();
        for (String name : GoldenEvents.VALID) {
            events.add(codec.decode(GoldenEvents.valid(name)));
        }
        UsageEvent any = events.get(0);
        // what the golden events do not show: no proxy host, no time at all, only a start, a whole second, no key
        events.add(any.toBuilder().proxyHost(null).build());
        events.add(any.toBuilder().startedAt(null).endedAt(null).build());
        events.add(any.toBuilder().endedAt(null).startedAt(1_763_800_000_007L).build());
        events.add(any.toBuilder().endedAt(1_763_800_000_000L).build());
        events.add(any.toBuilder().clientAddress(null).build());
        return events.stream();
    }

    @ParameterizedTest
    @MethodSource("events")
    void shouldGiveTheProducerTheContractsRecordOfTheEventByteForByte(UsageEvent event) {
        // when
        ProducerRecord<byte[], byte[]> record = reread(event).toProducerRecord("usage");

        // then
        ContractRecords.assertIsTheContractsRecordOf(record, event);
        assertThat(record.topic()).isEqualTo("usage");
        assertThat(record.partition()).isNull();
    }

    @Test
    void shouldShareTheHeadersThatAreTheSameFromOneRecordToTheNext() {
        // given two events of one proxy
        UsageEvent one = events().findFirst().orElseThrow();
        List<UsageEvent> events = List.of(one, one.toBuilder().eventId("019a9c41-0000-7000-8000-000000000001")
                .endedAt(one.endedAt() + 1).build());

        // when
        Header[] first = reread(events.get(0)).headers();
        Header[] second = reread(events.get(1)).headers();

        // then the spec version, source, type and content type are the first record's own; id and time are not
        assertThat(names(second)).containsExactly(CloudEventHeaders.SPEC_VERSION, CloudEventHeaders.ID,
                CloudEventHeaders.SOURCE, CloudEventHeaders.TYPE, CloudEventHeaders.TIME,
                CloudEventHeaders.CONTENT_TYPE);
        for (int i : new int[] {0, 2, 3, 5}) {
            assertThat(second[i]).isSameAs(first[i]);
        }
        assertThat(second[1]).isNotSameAs(first[1]);
        assertThat(second[1].key()).isSameAs(first[1].key());
        assertThat(second[1].value()).isNotEqualTo(first[1].value());
    }

    @Test
    void shouldReadARecordOfThePreviousReleaseAsThatReleaseSentIt() {
        // given what the release before this format spooled: the event's JSON alone
        UsageEvent event = events().findFirst().orElseThrow();
        byte[] json = codec.encode(event);

        // when
        UsageRecord record = reader.decode(framedIn(json), 3, json.length);

        // then
        assertThat(record.value()).isEqualTo(json);
        ContractRecords.assertIsTheContractsRecordOf(record.toProducerRecord("usage"), event);
    }

    @Test
    void shouldRefuseARecordOfThePreviousReleaseThatIsNotAnEvent() {
        byte[] json = GoldenEvents.invalid("missing-event-id.json");

        assertThatThrownBy(() -> reader.decode(json, 0, json.length))
                .isInstanceOf(UsageEventDecodeException.class);
    }

    @Test
    void shouldRefuseAnUnknownFormatAndARecordCutShortAndReadTheNextOneRight() {
        // given
        List<UsageEvent> events = events().limit(2).toList();
        byte[] whole = writer.encode(events.get(0));
        byte[] unknown = whole.clone();
        unknown[0] = 9;

        // then
        assertThatThrownBy(() -> reader.decode(unknown, 0, unknown.length))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unknown format 9");
        assertThatThrownBy(() -> reader.decode(new byte[0], 0, 0)).isInstanceOf(IllegalArgumentException.class);
        ContractRecords.assertIsTheContractsRecordOf(reader.decode(whole, 0, whole.length).toProducerRecord("u"),
                events.get(0));
        // cut inside the headers, in the first header's value length
        int cut = 1 + 4 + events.get(0).clientAddress().length() + 1 + 2 + CloudEventHeaders.SPEC_VERSION.length() + 2;
        assertThatThrownBy(() -> reader.decode(whole, 0, cut))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cut short");
        byte[] next = writer.encode(events.get(1));
        ContractRecords.assertIsTheContractsRecordOf(reader.decode(next, 0, next.length).toProducerRecord("usage"),
                events.get(1));
    }

    /** The event written by the spool's writer and read back by its sender, from within a larger buffer. */
    private UsageRecord reread(UsageEvent event) {
        byte[] spooled = writer.encode(event);
        return reader.decode(framedIn(spooled), 3, spooled.length);
    }

    /** {@code bytes} with something before and after them, as the spool's read window holds a record. */
    private static byte[] framedIn(byte[] bytes) {
        byte[] buffer = new byte[bytes.length + 7];
        Arrays.fill(buffer, (byte) 'x');
        System.arraycopy(bytes, 0, buffer, 3, bytes.length);
        return buffer;
    }

    private static List<String> names(Header[] headers) {
        return Arrays.stream(headers).map(Header::key).toList();
    }
}
