package dev.tokentap.proxy.publish;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/** Logs one WARN per interval for a recurring problem, saying how many were left unlogged in between. */
final class WarnLimiter {
    private final Logger log;
    private final long intervalNanos;
    private final AtomicLong nextAllowed = new AtomicLong(Long.MIN_VALUE);
    private final AtomicLong suppressed = new AtomicLong();

    WarnLimiter(Logger log, long interval, TimeUnit unit) {
        this.log = log;
        this.intervalNanos = unit.toNanos(interval);
    }

    /** Logs {@code message} (SLF4J format; a {@code suppressed=} count is appended) unless one was logged lately. */
    void warn(String message, Object... args) {
        long now = System.nanoTime();
        long next = nextAllowed.get();
        if ((next != Long.MIN_VALUE && now - next < 0) || !nextAllowed.compareAndSet(next, now + intervalNanos)) {
            suppressed.incrementAndGet();
            return;
        }
        Object[] withCount = new Object[args.length + 1];
        System.arraycopy(args, 0, withCount, 0, args.length);
        withCount[args.length] = suppressed.getAndSet(0);
        log.warn(message + " suppressed={}", withCount);
    }
}
