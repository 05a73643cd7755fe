package dev.tokentap.proxy.publish;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.proxy.ProxyMetrics;
import java.util.Collection;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;

/**
 * The bounded hand-off between request threads and a publisher's own thread. {@link #offer} never blocks: an event
 * that does not fit, or comes after {@link #close}, is counted as a publish failure (and a full queue logged at a
 * limited rate), never waited for.
 */
final class UsageHandOff {

    private final BlockingQueue<UsageEvent> queue;
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
        metrics.publishQueue(queue::size);
    }

    void offer(UsageEvent event) {
        if (closed) {
            metrics.publishFailure(ProxyMetrics.REASON_SHUTDOWN);
            return;
        }
        if (!queue.offer(event)) {
            metrics.publishFailure(ProxyMetrics.REASON_QUEUE_FULL);
            fullWarning.warn(fullMessage, queue.size() + queue.remainingCapacity());
        }
    }

    /** Takes no more events; true the first time, so that a publisher's close runs once. */
    boolean close() {
        boolean first = !closed;
        closed = true;
        return first;
    }

    boolean closed() {
        return closed;
    }

    UsageEvent poll(long timeout, TimeUnit unit) throws InterruptedException {
        return queue.poll(timeout, unit);
    }

    UsageEvent poll() {
        return queue.poll();
    }

    int drainTo(Collection<? super UsageEvent> into, int max) {
        return queue.drainTo(into, max);
    }

    int size() {
        return queue.size();
    }
}
