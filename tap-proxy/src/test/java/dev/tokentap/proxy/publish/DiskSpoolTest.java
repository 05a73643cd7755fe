package dev.tokentap.proxy.publish;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DiskSpoolTest {

    @TempDir
    Path dir;

    @Test
    void shouldGiveBackWhatWasWrittenOldestFirstAfterAReopen() throws IOException {
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            spool.append(List.of(bytes("one")));
            spool.append(List.of(bytes("two")));
            spool.roll();
            spool.append(List.of(bytes("three")));
        }

        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            assertThat(spool.inheritedBytes()).isEqualTo(spool.bytes()).isEqualTo(3 * DiskSpool.HEADER + 11);
            assertThat(readAll(spool)).containsExactly("one", "two", "three");
        }
    }

    @Test
    void shouldStopAtATornTailAndKeepWhatCameBefore() throws IOException {
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            spool.append(List.of(bytes("intact")));
            spool.append(List.of(bytes("torn in half")));
        }
        Path segment = onlySegment();
        try (FileChannel channel = FileChannel.open(segment, StandardOpenOption.WRITE)) {
            channel.truncate(Files.size(segment) - 5);
        }

        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            assertThat(readAll(spool)).containsExactly("intact");
        }
    }

    @Test
    void shouldStopAtARecordWhoseChecksumDoesNotMatch() throws IOException {
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            spool.append(List.of(bytes("first")));
            spool.append(List.of(bytes("second")));
            spool.append(List.of(bytes("third")));
        }
        Path segment = onlySegment();
        byte[] content = Files.readAllBytes(segment);
        int second = DiskSpool.HEADER + 5;
        content[second + DiskSpool.HEADER] ^= 0x20; // one bit of "second" flipped on disk
        Files.write(segment, content);

        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            assertThat(readAll(spool)).containsExactly("first");
        }
    }

    @Test
    void shouldStopAtAnImpossibleLength() throws IOException {
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            spool.append(List.of(bytes("first")));
        }
        Files.write(onlySegment(), new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0, 0, 0, 0},
                StandardOpenOption.APPEND);

        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            assertThat(readAll(spool)).containsExactly("first");
        }
    }

    @Test
    void shouldRefuseARecordThatWouldTakeItPastItsCap() throws IOException {
        try (DiskSpool spool = new DiskSpool(dir, 3 * DiskSpool.HEADER + 10)) {
            assertThat(spool.append(List.of(bytes("1234")))).isEqualTo(1);
            // of three, the middle one does not fit; the one after it does
            assertThat(spool.append(List.of(bytes("5678"), bytes("too long"), bytes("90")))).isEqualTo(2);
            assertThat(spool.append(List.of(bytes("x")))).isZero();
            assertThat(spool.bytes()).isEqualTo(3 * DiskSpool.HEADER + 10);
            assertThat(readAll(spool)).containsExactly("1234", "5678", "90");
        }
    }

    @Test
    void shouldWriteABatchInOneAppendAndShowItToTheReaderBeforeItIsForced() throws IOException {
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            spool.append(List.of(bytes("one"), bytes("two"), bytes("three")));

            // in the file, a killed process would leave it there: the reader need not wait for a force
            List<String> seen = new ArrayList<>();
            DiskSpool.Read read = spool.read(spool.oldest(), 0, (b, offset, length) ->
                    seen.add(new String(b, offset, length, StandardCharsets.UTF_8)));
            assertThat(seen).containsExactly("one", "two", "three");
            assertThat(read.position()).isEqualTo(Files.size(onlySegment())).isEqualTo(spool.oldest().written());
            assertThat(read.damaged()).isFalse();
        }
    }

    @Test
    void shouldCutAnAbandonedSegmentBackToItsLastWholeAppend() throws IOException {
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            spool.append(List.of(bytes("whole")));
            long whole = Files.size(onlySegment());
            // what a write that failed part-way leaves behind
            Files.write(onlySegment(), new byte[] {0, 0, 0, 9, 1, 2}, StandardOpenOption.APPEND);

            spool.abandonActive();

            assertThat(Files.size(onlySegment())).isEqualTo(whole);
            assertThat(spool.oldest().sealed()).isTrue();
            spool.append(List.of(bytes("next")));
            assertThat(segments()).hasSize(2);
            assertThat(readAll(spool)).containsExactly("whole", "next");
        }
    }

    @Test
    void shouldSayWhereADamagedRecordEndedARead() throws IOException {
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            spool.append(List.of(bytes("first")));
        }
        Files.write(onlySegment(), new byte[] {0, 0, 0, 3, 0, 0, 0, 0, 'b', 'a', 'd'}, StandardOpenOption.APPEND);

        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            DiskSpool.Read read = spool.read(spool.oldest(), 0, (b, offset, length) -> { });
            assertThat(read.damaged()).isTrue();
            assertThat(read.position()).isEqualTo(DiskSpool.HEADER + 5);
        }
    }

    @Test
    void shouldDeleteADeliveredSegmentAndItsBytes() throws IOException {
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            spool.append(List.of(bytes("x")));
            spool.roll();
            spool.delete(spool.oldest());

            assertThat(spool.bytes()).isZero();
            assertThat(spool.oldest()).isNull();
            assertThat(segments()).isEmpty();
        }
    }

    @Test
    void shouldKeepASecondSpoolOffTheSameDirectory() {
        try (DiskSpool spool = new DiskSpool(dir, 1 << 20)) {
            assertThatThrownBy(() -> new DiskSpool(dir, 1 << 20))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("in use by another tap-proxy");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private List<String> readAll(DiskSpool spool) throws IOException {
        List<String> all = new ArrayList<>();
        for (DiskSpool.Segment segment = spool.oldest(); segment != null; segment = spool.oldest()) {
            spool.read(segment, 0, (b, offset, length) ->
                    all.add(new String(b, offset, length, StandardCharsets.UTF_8)));
            spool.delete(segment);
        }
        return all;
    }

    private Path onlySegment() throws IOException {
        List<Path> segments = segments();
        assertThat(segments).hasSize(1);
        return segments.get(0);
    }

    private List<Path> segments() throws IOException {
        try (var files = Files.list(dir)) {
            return files.filter(p -> p.toString().endsWith(DiskSpool.SUFFIX)).toList();
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
