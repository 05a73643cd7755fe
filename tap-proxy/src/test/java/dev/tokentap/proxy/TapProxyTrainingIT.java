package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training run behind the image's class data sharing archive goes through the real proxy, every kind answered. */
class TapProxyTrainingIT {

    @Test
    void shouldAnswerEveryTrainingRequestThroughTheProxyAndSpoolItsEvents(@TempDir Path dir) throws Exception {
        // when
        TapProxyTraining.Outcome outcome = TapProxyTraining.run(dir, 3);

        // then every kind (JSON and streams, chat and completions) came back whole, through the tap
        assertThat(outcome.sent()).isEqualTo(15);
        assertThat(outcome.answered()).isEqualTo(outcome.sent());
        // and the events went to the spool, Kafka being unreachable: the publishing classes ran too
        assertThat(spooledBytes(dir.resolve("spool"))).isPositive();
    }

    private static long spooledBytes(Path spool) throws IOException {
        try (Stream<Path> files = Files.walk(spool)) {
            return files.filter(Files::isRegularFile).mapToLong(path -> path.toFile().length()).sum();
        }
    }
}
