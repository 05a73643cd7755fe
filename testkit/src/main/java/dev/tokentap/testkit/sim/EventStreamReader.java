package dev.tokentap.testkit.sim;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * Reads a server-sent event stream one event at a time, each within a timeout, so a test can tell an event that has
 * arrived from one still held somewhere on the way. A thread of its own does the blocking reads.
 */
public final class EventStreamReader implements AutoCloseable {

    private static final Object END = new Object();

    private final InputStream body;
    private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
    private boolean ended;

    public EventStreamReader(InputStream body) {
        this.body = body;
        Thread reader = new Thread(this::readAll, "event-stream-reader");
        reader.setDaemon(true);
        reader.start();
    }

    /**
     * The next event: its lines without the blank line that ends it, for example {@code data: {...}}. Empty once the
     * stream has ended; an {@link AssertionError} if nothing comes within {@code timeout}, an
     * {@link UncheckedIOException} if the stream broke.
     */
    public Optional<String> next(Duration timeout) {
        if (ended) {
            return Optional.empty();
        }
        Object event;
        try {
            event = events.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for an event", e);
        }
        if (event == null) {
            throw new AssertionError("no event within " + timeout);
        }
        if (event == END) {
            ended = true;
            return Optional.empty();
        }
        if (event instanceof IOException broken) {
            ended = true;
            throw new UncheckedIOException(broken);
        }
        return Optional.of((String) event);
    }

    /** Reads events until one matches, each within {@code timeout}; an {@link AssertionError} if the stream ends first. */
    public String nextMatching(Predicate<String> wanted, Duration timeout) {
        while (true) {
            String event = next(timeout).orElseThrow(() -> new AssertionError("the stream ended first"));
            if (wanted.test(event)) {
                return event;
            }
        }
    }

    @Override
    public void close() throws IOException {
        body.close();
    }

    private void readAll() {
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
            StringBuilder event = new StringBuilder();
            String line;
            while ((line = reader.readLine()) != null) {
                if (!line.isEmpty()) {
                    event.append(event.length() == 0 ? "" : "\n").append(line);
                } else if (event.length() > 0) {
                    events.add(event.toString());
                    event.setLength(0);
                }
            }
            if (event.length() > 0) {
                events.add(event.toString());
            }
            events.add(END);
        } catch (IOException e) {
            events.add(e);
        }
    }
}
