package dev.tokentap.proxy.http;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The memory all held request bodies share ({@code --request-memory-budget}). Each request takes its {@link Share}
 * from it as its body arrives, or at once for the length it declares; a request whose body would take the budget
 * past its capacity is refused (503) instead of taking the heap with it. A share goes back when the body has been
 * sent upstream, when it is refused, or when the exchange ends.
 */
public final class RequestMemoryBudget {

    /** A held body would take the budget past its capacity. */
    static final class Exhausted extends IOException {
        Exhausted(long capacity) {
            super("request bodies held in memory would pass the budget of " + capacity + " bytes", null);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this;
        }
    }

    private final long capacity;
    private final AtomicLong held = new AtomicLong();

    public RequestMemoryBudget(long capacity) {
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity must not be negative, got " + capacity);
        }
        this.capacity = capacity;
    }

    public long capacity() {
        return capacity;
    }

    /** Bytes taken by the bodies held now. */
    public long held() {
        return held.get();
    }

    private boolean tryTake(long bytes) {
        while (true) {
            long now = held.get();
            if (now + bytes > capacity) {
                return false;
            }
            if (held.compareAndSet(now, now + bytes)) {
                return true;
            }
        }
    }

    private void giveBack(long bytes) {
        held.addAndGet(-bytes);
    }

    /** A new, empty share for one request. */
    Share share() {
        return new Share();
    }

    /** What one request's held body takes from the budget; safe to use from the threads that handle it. */
    final class Share {
        private long taken;
        private long used;
        private boolean released;
        private boolean refused;

        private Share() {
        }

        /**
         * Takes {@code bytes} at once, for a body that declares its length; false when they do not fit, and the
         * share is then {@linkplain #refused() refused}.
         */
        synchronized boolean reserve(long bytes) {
            if (released || !tryTake(bytes)) {
                refuse();
                return false;
            }
            taken += bytes;
            return true;
        }

        /** Whether the body did not fit: the share holds nothing and takes nothing more. */
        synchronized boolean refused() {
            return refused;
        }

        /** The failure that answers a refused body. */
        Exhausted refusal() {
            return new Exhausted(capacity);
        }

        private void refuse() {
            refused = true;
            release();
        }

        /**
         * Accounts {@code bytes} about to be allocated for the body: from what was reserved, then from the budget.
         *
         * @throws Exhausted when they do not fit, or the share was already given back
         */
        synchronized void use(long bytes) throws Exhausted {
            long more = used + bytes - taken;
            if (released || (more > 0 && !tryTake(more))) {
                refuse();
                throw refusal();
            }
            if (more > 0) {
                taken += more;
            }
            used += bytes;
        }

        /** Gives everything back; the share takes nothing afterwards. Safe to call more than once. */
        synchronized void release() {
            if (!released) {
                released = true;
                giveBack(taken);
                taken = 0;
            }
        }
    }
}
