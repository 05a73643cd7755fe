package dev.tokentap.proxy.usage;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class ByteScanTest {

    private static int naive(byte[] bytes, int from, int to, byte target) {
        for (int i = from; i < to; i++) {
            if (bytes[i] == target) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void shouldFindTheFirstByteOfAValueWhereverItLiesAndWhateverSurroundsIt() {
        // given bytes of every value, the target rare, among them its neighbours and high bytes that a word-wise
        // test could confuse with it
        Random random = new Random(15);
        byte[] bytes = new byte[67];
        for (byte target : new byte[] {'\n', '"', 0, (byte) 0x80, (byte) 0xFF, 1}) {
            for (int round = 0; round < 200; round++) {
                for (int i = 0; i < bytes.length; i++) {
                    int pick = random.nextInt(8);
                    bytes[i] = (byte) (pick == 0 ? target + 1 : pick == 1 ? target - 1 : pick == 2 ? 0x80 | target
                            : random.nextInt(256));
                    if (bytes[i] == target && random.nextInt(4) != 0) {
                        bytes[i]++;
                    }
                }
                // when every run of them is searched
                for (int from = 0; from < bytes.length; from++) {
                    for (int to = from; to <= bytes.length; to++) {
                        // then the answer is that of a byte-by-byte search
                        assertThat(ByteScan.indexOf(bytes, from, to, target))
                                .as("target %d in [%d, %d)", target, from, to)
                                .isEqualTo(naive(bytes, from, to, target));
                    }
                }
            }
        }
    }

    @Test
    void shouldFindASequenceOnlyWhereItWhollyLies() {
        byte[] what = Pieces.bytes("\"usage\"");
        byte[] bytes = Pieces.bytes("x\"usag\"usage\"usage");

        assertThat(ByteScan.indexOf(bytes, 0, bytes.length, what)).isEqualTo(6);
        assertThat(ByteScan.indexOf(bytes, 7, bytes.length, what)).isEqualTo(-1);
        assertThat(ByteScan.indexOf(bytes, 0, 12, what)).isEqualTo(-1);
    }
}
