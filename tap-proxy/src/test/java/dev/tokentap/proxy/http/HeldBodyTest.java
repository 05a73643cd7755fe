package dev.tokentap.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class HeldBodyTest {

    @Test
    void shouldGiveNothingUntilTheBodyEndsThenAllOfItInOnePiece() throws Exception {
        List<String> seen = new ArrayList<>();
        HeldBody held = new HeldBody((input, finished, output) -> {
            seen.add(StandardCharsets.UTF_8.decode(input.duplicate()).toString());
            output.add(input);
        }, -1);
        List<ByteBuffer> output = new ArrayList<>();
        byte[] readerBuffer = new byte[5];

        // given a reader that reuses its buffer for every piece, as Jetty's does
        for (String piece : List.of("{\"mod", "el\":\"", "m\"}")) {
            Arrays.fill(readerBuffer, (byte) 0);
            byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
            System.arraycopy(bytes, 0, readerBuffer, 0, bytes.length);
            held.transform(ByteBuffer.wrap(readerBuffer, 0, bytes.length), false, output);

            // then the next transformer reads each piece as it comes, and nothing goes out yet
            assertThat(output).isEmpty();
        }
        held.transform(ByteBuffer.allocate(0), true, output);

        assertThat(seen).containsExactly("{\"mod", "el\":\"", "m\"}", "");
        assertThat(output).hasSize(1);
        assertThat(StandardCharsets.UTF_8.decode(output.get(0)).toString()).isEqualTo("{\"model\":\"m\"}");
    }

    @Test
    void shouldGrowPastItsFirstGuessOfTheLength() throws Exception {
        HeldBody held = new HeldBody((input, finished, output) -> output.add(input), 10);
        List<ByteBuffer> output = new ArrayList<>();

        held.transform(ByteBuffer.wrap(new byte[3000]), false, output);
        held.transform(ByteBuffer.wrap(new byte[5000]), true, output);

        assertThat(output.get(0).remaining()).isEqualTo(8000);
        assertThat(held.length()).isEqualTo(8000);
    }
}
