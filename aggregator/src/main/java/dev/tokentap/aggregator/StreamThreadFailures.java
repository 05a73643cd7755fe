package dev.tokentap.aggregator;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What to do when a stream thread dies. The topology itself never throws on bad input (unreadable records go to
 * the DLQ), so a dying thread means a transient broker or network problem: replace the thread, and under
 * exactly-once it resumes from the last committed offsets and state. If threads keep dying (more than
 * {@code maxReplacements} within {@code window}) something is persistently wrong: shut this client down, which
 * turns {@code /healthz} red so that the orchestrator restarts the process. An {@link Error} (out of memory, …)
 * always shuts down.
 */
final class StreamThreadFailures implements StreamsUncaughtExceptionHandler {

    private static final Logger LOG = LoggerFactory.getLogger(StreamThreadFailures.class);

    private final int maxReplacements;
    private final Duration window;
    private final Clock clock;
    private final Deque<Instant> recent = new ArrayDeque<>();

    StreamThreadFailures(int maxReplacements, Duration window, Clock clock) {
        this.maxReplacements = maxReplacements;
        this.window = window;
        this.clock = clock;
    }

    @Override
    public synchronized StreamThreadExceptionResponse handle(Throwable exception) {
        Throwable cause = exception.getCause() != null ? exception.getCause() : exception;
        if (exception instanceof Error || cause instanceof Error) {
            LOG.error("stream thread died of an error, shutting down response=SHUTDOWN_CLIENT", exception);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        }
        Instant now = clock.instant();
        while (!recent.isEmpty() && recent.peekFirst().isBefore(now.minus(window))) {
            recent.removeFirst();
        }
        if (recent.size() >= maxReplacements) {
            LOG.error("stream thread died again replacements={} window={} response=SHUTDOWN_CLIENT",
                    recent.size(), window, exception);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        }
        recent.addLast(now);
        LOG.warn("stream thread died, replacing it replacements={} window={} response=REPLACE_THREAD",
                recent.size(), window, exception);
        return StreamThreadExceptionResponse.REPLACE_THREAD;
    }
}
