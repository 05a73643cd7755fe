package dev.tokentap.proxy.publish;

import dev.tokentap.proxy.ProxyMetrics;
import java.util.Collection;
import java.util.Iterator;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;

/**
 * The bounded hand-off between request threads and a publisher's own thread. {@link #offer} never blocks: an item
 * that does not fit, or comes after {@link #close}, is counted as a publish failure (and a full queue logged at a
 * limited rate), never waited for.
 *
 * <p>The publish queue gauge counts every item held in memory: those in the queue and those the publisher's thread
 * has taken and not yet reported {@link #done}.
 */
final class UsageHandOff<T> implements Iterable<T> {

    private final BlockingQueue<T> queue;
    private final AtomicInteger held = new AtomicInteger();
    private final ProxyMetrics metrics;
    private final WarnLimiter fullWarning;
    private final String fullMessage;
    private volatile boolean closed;

    /**
     * @param fullMessage what the rate-limited warning says when the queue is full; it gets the capacity as its
     *                    one {@code {}} argument
     */
    UsageHandOff(int capacity, ProxyMetrics metrics, Logger log, String fullMessage) {
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.metrics = metrics;
        this.fullWarning = new WarnLimiter(log, 10, TimeUnit.SECONDS);
        this.fullMessage = fullMessage;
        metrics.publishQueue(held::get);
    }

    /** Takes {@code item}, or counts it lost; true when taken. */
    boolean offer(T item) {
        if (closed) {
            metrics.publishFailure(ProxyMetrics.REASON_SHUTDOWN);
            return false;
        }
        // counted before it is visible, so that a taker reporting it done never takes the gauge below zero
        held.incrementAndGet();
        if (!queue.offer(item)) {
            held.decrementAndGet();
            metrics.publishFailure(ProxyMetrics.REASON_QUEUE_FULL);
            fullWarning.warn(fullMessage, queue.size() + queue.remainingCapacity());
            return false;
        }
        return true;
    }

    /** {@code count} items taken from the queue are no longer held: written, sent, or given up. */
    void done(int count) {
        held.addAndGet(-count);
    }

    /** Items held in memory, in the queue or taken and not yet done. */
    int held() {
        return held.get();
    }

    /** Takes no more items; true the first time, so that a publisher's close runs once. */
    boolean close() {
        boolean first = !closed;
        closed = true;
        return first;
    }

    boolean closed() {
        return closed;
    }

    T poll(long timeout, TimeUnit unit) throws InterruptedException {
        return queue.poll(timeout, unit);
    }

    T poll() {
        return queue.poll();
    }

    /** The oldest item in the queue, left there; null when it is empty. */
    T peek() {
        return queue.peek();
    }

    int drainTo(Collection<? super T> into, int max) {
        return queue.drainTo(into, max);
    }

    /** The items in the queue, oldest first, left there (a weakly consistent view). */
    @Override
    public Iterator<T> iterator() {
        return queue.iterator();
    }
}
