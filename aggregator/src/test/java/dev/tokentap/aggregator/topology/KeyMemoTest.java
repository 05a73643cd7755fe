package dev.tokentap.aggregator.topology;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.Test;

class KeyMemoTest {

    @Test
    void shouldWriteAndReadTheSameBytesAsWithoutTheMemo() {
        // given
        Serde<UsageLabels> memoized = JsonSerde.labels();
        UsageLabels labels = new UsageLabels("team-a", "ranker", "/v1/chat/completions", "proxy-0", "llama");
        String json = "{\"namespace\":\"team-a\",\"client_name\":\"ranker\",\"full_path\":\"/v1/chat/completions\","
                + "\"hostname\":\"proxy-0\",\"model\":\"llama\"}";

        // when: written and read more than once, the second time from the memo
        byte[] first = memoized.serializer().serialize("t", labels);
        byte[] second = memoized.serializer().serialize("t", labels);
        first[0] = 'x';

        // then: the bytes never change, even when a caller changes the ones it was given
        assertThat(new String(second, StandardCharsets.UTF_8)).isEqualTo(json);
        assertThat(new String(memoized.serializer().serialize("t", labels), StandardCharsets.UTF_8)).isEqualTo(json);
        byte[] read = json.getBytes(StandardCharsets.UTF_8);
        assertThat(memoized.deserializer().deserialize("t", read)).isEqualTo(labels);
        read[2] = 'X';
        assertThat(memoized.deserializer().deserialize("t", json.getBytes(StandardCharsets.UTF_8)))
                .isEqualTo(labels);
    }

    @Test
    void shouldStayCorrectPastTheMemoSize() {
        Serde<HourlyKey> memoized = JsonSerde.hourlyKey();
        for (int i = 0; i < JsonSerde.KEY_MEMO_SIZE * 2 + 10; i++) {
            HourlyKey key = new HourlyKey("ns", "client-" + i, "model", "/v1/completions");
            byte[] bytes = memoized.serializer().serialize("t", key);
            assertThat(bytes).isEqualTo(JsonSerde.hourlyKeyBytes(key));
            assertThat(memoized.deserializer().deserialize("t", bytes)).isEqualTo(key);
        }
    }
}
