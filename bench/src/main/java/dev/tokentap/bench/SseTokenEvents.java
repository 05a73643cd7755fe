package dev.tokentap.bench;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Counts the token events of one chat stream as its bytes arrive, however the reads split them: the chat role
 * chunk and {@code [DONE]} are not tokens, every other {@code data:} event is. Events end with a blank line.
 */
public final class SseTokenEvents {

    private final ByteArrayOutputStream current = new ByteArrayOutputStream(512);
    private int previous = -1;
    private int tokens;

    /** Reads one chunk; returns how many token events it completed. */
    public int feed(ByteBuffer chunk) {
        int completed = 0;
        while (chunk.hasRemaining()) {
            byte b = chunk.get();
            if (b == '\r') {
                continue;
            }
            if (b == '\n' && previous == '\n') {
                if (isToken(current.toString(StandardCharsets.UTF_8))) {
                    completed++;
                }
                current.reset();
                previous = -1;
                continue;
            }
            current.write(b);
            previous = b;
        }
        tokens += completed;
        return completed;
    }

    /** Token events seen so far. */
    public int tokens() {
        return tokens;
    }

    static boolean isToken(String event) {
        String data = event.strip();
        if (!data.startsWith("data:")) {
            return false;
        }
        return !data.contains("[DONE]") && !data.contains("\"role\"");
    }
}
