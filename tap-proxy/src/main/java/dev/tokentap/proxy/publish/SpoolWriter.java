package dev.tokentap.proxy.publish;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.proxy.ProxyMetrics;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The spool's writing side: takes usage events from request threads and appends them to the {@link DiskSpool},
 * many to one write (group commit), and completes each event's stage once its write returned, so that a response
 * can end knowing its event survives the process being killed.
 *
 * <p>Three threads, none of them a request's: the writer appends; the syncer forces what was written to the device
 * every {@link #SYNC_INTERVAL_MILLIS}, so that the writer never waits for the device; the watchdog ends the wait of
 * any event not written within the write timeout (a disk that hangs), so that no response waits on the disk for
 * longer. When a write fails (disk full, directory gone) the events stay in memory and are written again with a
 * growing pause and, each time, a smaller write: a disk with a little room left takes a little. Meanwhile every
 * waiting response is let go at once.
 */
final class SpoolWriter {

    private static final Logger LOG = LoggerFactory.getLogger(SpoolWriter.class);
    /** An open segment older than this is sealed, so that the sender can delete it once delivered. */
    static final long ROLL_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** Events taken from the hand-off at a time. */
    static final int MAX_BATCH = 1000;
    /** The most bytes one write appends; after a failed write the next is half as big, down to one event. */
    static final int MAX_WRITE_BYTES = 256 * 1024;
    /** How often written segments are forced to the device: the most a machine crash can lose. */
    static final long SYNC_INTERVAL_MILLIS = 50;
    /** The first pause after a spool I/O error; it doubles with each failure in a row, up to the maximum. */
    static final long FIRST_BACKOFF_MILLIS = 100;
    static final long MAX_BACKOFF_MILLIS = 5_000;
    private static final Pending[] NONE = new Pending[0];

    /** An event on its way to disk, and the stage its response waits on. */
    private static final class Pending {
        final UsageEvent event;
        final long since = System.nanoTime();
        final CompletableFuture<Void> written = new CompletableFuture<>();
        byte[] encoded;

        Pending(UsageEvent event) {
            this.event = event;
        }
    }

    private final DiskSpool spool;
    private final ProxyMetrics metrics;
    private final Runnable onWritten;
    private final long writeTimeoutNanos;
    private final UsageHandOff<Pending> handOff;
    /** The writer thread's: each event is encoded here once, as the Kafka record the sender sends as it is. */
    private final SpoolRecordFormat format = new SpoolRecordFormat(new UsageEventCodec());
    private final WarnLimiter droppedWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final WarnLimiter writeWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final WarnLimiter syncWarning = new WarnLimiter(LOG, 10, TimeUnit.SECONDS);
    private final int queueCapacity;
    private final Thread writer;
    private final Thread syncer;
    private final ScheduledExecutorService watchdog;
    /** The events the writer has taken and not yet written, oldest first, for the watchdog. */
    private volatile Pending[] inFlight = NONE;
    /** The last write failed; the next one has not succeeded yet. */
    private volatile boolean writeFailing;
    private volatile boolean syncFailing;
    /** Stop at once, writing nothing more (a halt, or a close whose time ran out). */
    private volatile boolean halted;
    /** Set by {@link #halt}: events lost then are the point of the test that halts, not news. */
    private volatile boolean halting;
    private volatile boolean syncerStopped;

    /**
     * @param onWritten    told after each write and each sealed segment (it wakes the sender)
     * @param writeTimeout how long a response may wait for its event to be written
     */
    SpoolWriter(DiskSpool spool, int queueCapacity, Duration writeTimeout, ProxyMetrics metrics, Runnable onWritten) {
        this.spool = spool;
        this.metrics = metrics;
        this.onWritten = onWritten;
        this.queueCapacity = queueCapacity;
        this.writeTimeoutNanos = writeTimeout.toNanos();
        this.handOff = new UsageHandOff<>(queueCapacity, metrics, LOG,
                "USAGE EVENT LOST: spool writer behind or spool failing, queue full capacity={}");
        writer = new Thread(this::write, "tokentap-spool-writer");
        writer.setDaemon(true);
        syncer = new Thread(this::syncLoop, "tokentap-spool-sync");
        syncer.setDaemon(true);
        watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "tokentap-spool-watchdog");
            t.setDaemon(true);
            return t;
        });
        writer.start();
        syncer.start();
        long tick = Math.max(TimeUnit.MILLISECONDS.toNanos(5), Math.min(writeTimeoutNanos / 4,
                TimeUnit.MILLISECONDS.toNanos(250)));
        watchdog.scheduleWithFixedDelay(this::releaseOverdue, tick, tick, TimeUnit.NANOSECONDS);
    }

    /** Takes {@code event} for writing; the stage completes when it is written, let go, or lost. */
    CompletionStage<Void> write(UsageEvent event) {
        Pending pending = new Pending(event);
        if (!handOff.offer(pending)) {
            // lost, and counted so by the hand-off: nothing to wait for
            pending.written.complete(null);
        } else if (writeFailing) {
            // the disk fails: the event waits in memory, the response does not
            release(pending);
        }
        return pending.written;
    }

    /** Whether writing or syncing fails. */
    boolean writeFailing() {
        return writeFailing;
    }

    boolean syncFailing() {
        return syncFailing;
    }

    /**
     * Takes events from the hand-off and appends them, a batch at a time. A batch is done once written; when the
     * disk fails it is kept and written again, smaller, after a growing pause, while new events wait in the bounded
     * hand-off, which drops and counts what does not fit. The writer never gives up by itself.
     */
    private void write() {
        List<Pending> pending = new ArrayList<>(MAX_BATCH);
        List<byte[]> records = new ArrayList<>(MAX_BATCH);
        long openedAt = System.nanoTime();
        long backoff = 0;
        int writeLimit = MAX_WRITE_BYTES;
        try {
            while (!halted) {
                if (pending.isEmpty()) {
                    Pending first = handOff.poll(100, TimeUnit.MILLISECONDS);
                    if (first == null) {
                        if (handOff.closed()) {
                            break;
                        }
                        if (spool.activeHasRecords() && System.nanoTime() - openedAt > ROLL_NANOS) {
                            spool.roll();
                            onWritten.run();
                        }
                        continue;
                    }
                    pending.add(first);
                    handOff.drainTo(pending, MAX_BATCH - 1);
                    inFlight = pending.toArray(NONE);
                }
                try {
                    if (!spool.activeHasRecords()) {
                        openedAt = System.nanoTime();
                    }
                    writeSome(pending, records, writeLimit);
                } catch (IOException e) {
                    backoff = backoff == 0 ? FIRST_BACKOFF_MILLIS : Math.min(MAX_BACKOFF_MILLIS, backoff * 2);
                    writeLimit = Math.max(1, writeLimit / 2);
                    writeFailed(e, pending, backoff, writeLimit);
                    spool.abandonActive();
                    pause(backoff);
                    continue;
                }
                if (backoff > 0) {
                    backoff = 0;
                    writeFailing = false;
                    LOG.info("spool written again, events waiting in memory are being written held={}",
                            handOff.held());
                }
                writeLimit = Math.min(MAX_WRITE_BYTES, writeLimit * 2);
                if (spool.activeHasRecords() && System.nanoTime() - openedAt > ROLL_NANOS) {
                    spool.roll();
                    onWritten.run();
                }
            }
            if (!halted) {
                spool.roll();
                onWritten.run();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.error("spool writer failed, usage events are no longer recorded error={} message=\"{}\"",
                    e.getClass().getSimpleName(), e.getMessage());
        } finally {
            if (!halting) {
                // a close while the disk still failed: what it could not write is lost, and counted so
                handOff.drainTo(pending, Integer.MAX_VALUE);
            }
            lost(pending);
        }
    }

    /**
     * Appends the oldest events of {@code pending}, at most {@code writeLimit} bytes of them (at least one event),
     * in one write; then they are done: their stages complete and they leave memory.
     */
    private void writeSome(List<Pending> pending, List<byte[]> records, int writeLimit) throws IOException {
        records.clear();
        long size = 0;
        int count = 0;
        for (Pending p : pending) {
            if (p.encoded == null) {
                p.encoded = format.encode(p.event);
            }
            long framed = DiskSpool.HEADER + p.encoded.length;
            if (count > 0 && size + framed > writeLimit) {
                break;
            }
            records.add(p.encoded);
            size += framed;
            count++;
        }
        int appended = spool.append(records);
        // counted before the responses go on: a client that has its answer finds its event counted spooled
        for (int i = 0; i < appended; i++) {
            metrics.eventSpooled();
        }
        for (int i = 0; i < count; i++) {
            pending.get(i).written.complete(null);
        }
        int dropped = count - appended;
        if (dropped > 0) {
            // the cap, not a failure: the events are gone, and must not be counted again on a retry
            for (int i = 0; i < dropped; i++) {
                metrics.eventDropped();
            }
            droppedWarning.warn("USAGE EVENT LOST: spool full, events dropped count={} bytes={} — Kafka has "
                    + "been away too long for --spool-max-bytes", dropped, spool.bytes());
        }
        pending.subList(0, count).clear();
        handOff.done(count);
        inFlight = pending.isEmpty() ? NONE : pending.toArray(NONE);
        onWritten.run();
    }

    private void writeFailed(IOException e, List<Pending> pending, long retryMillis, int nextWriteBytes) {
        metrics.spoolError(ProxyMetrics.OPERATION_WRITE);
        if (!writeFailing) {
            writeFailing = true;
            LOG.error("spool write failing, usage events wait in memory until it works again error={} "
                    + "message=\"{}\" held={} queue_capacity={}", e.getClass().getSimpleName(), e.getMessage(),
                    handOff.held(), queueCapacity);
        } else {
            writeWarning.warn("spool write still failing error={} message=\"{}\" held={} retry_ms={} "
                    + "next_write_bytes={}", e.getClass().getSimpleName(), e.getMessage(), handOff.held(),
                    retryMillis, nextWriteBytes);
        }
        // no response waits for a disk that fails; the events stay in memory and are written when it works
        for (Pending p : pending) {
            release(p);
        }
        for (Pending p : handOff) {
            release(p);
        }
    }

    /** Ends the wait of every event held longer than the write timeout, oldest first (the watchdog's tick). */
    private void releaseOverdue() {
        long cutoff = System.nanoTime() - writeTimeoutNanos;
        for (Pending p : inFlight) {
            if (p.since - cutoff > 0) {
                return;
            }
            release(p);
        }
        Pending oldest = handOff.peek();
        if (oldest == null || oldest.since - cutoff > 0) {
            return;
        }
        for (Pending p : handOff) {
            if (p.since - cutoff > 0) {
                return;
            }
            release(p);
        }
    }

    /** Lets the response of {@code p} end although its event is not written yet; counted once. */
    private void release(Pending p) {
        if (p.written.complete(null)) {
            metrics.eventReleasedUnwritten();
        }
    }

    /** Events the writer held when it stopped without writing them (a halt, or a failing disk at close). */
    private void lost(List<Pending> pending) {
        int lost = pending.size();
        for (Pending p : pending) {
            metrics.publishFailure(ProxyMetrics.REASON_SHUTDOWN);
            p.written.complete(null);
        }
        handOff.done(lost);
        pending.clear();
        inFlight = NONE;
        if (lost > 0 && !halting) {
            LOG.error("USAGE EVENT LOST: the spool writer stopped holding events it could not write events={}",
                    lost);
        }
    }

    /** Forces written segments to the device every {@link #SYNC_INTERVAL_MILLIS} until stopped. */
    private void syncLoop() {
        while (!syncerStopped) {
            LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(SYNC_INTERVAL_MILLIS));
            if (syncerStopped) {
                return;
            }
            try {
                spool.force();
                if (syncFailing) {
                    syncFailing = false;
                    LOG.info("spool synced to disk again");
                }
            } catch (IOException e) {
                metrics.spoolError(ProxyMetrics.OPERATION_SYNC);
                if (!syncFailing) {
                    syncFailing = true;
                    LOG.error("spool sync failing: written events survive the process, not the machine, until it "
                            + "works again error={} message=\"{}\"", e.getClass().getSimpleName(), e.getMessage());
                } else {
                    syncWarning.warn("spool sync still failing error={} message=\"{}\"",
                            e.getClass().getSimpleName(), e.getMessage());
                }
            } catch (RuntimeException e) {
                LOG.error("spool sync failed error={} message=\"{}\"", e.getClass().getSimpleName(), e.getMessage());
            }
        }
    }

    /** Waits before retrying a failed write; a halt ends the wait early. */
    private void pause(long millis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        for (long left = millis; left > 0 && !halted;
             left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())) {
            LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(left));
        }
    }

    /**
     * Takes no more events and writes those held, waiting at most until {@code deadline} (a {@link System#nanoTime}
     * value); then stops whatever is left (counted lost) and stops the syncer and the watchdog. Returns whether
     * everything held was written.
     */
    boolean close(long deadline) throws InterruptedException {
        handOff.close();
        LockSupport.unpark(writer);
        writer.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        boolean clean = !writer.isAlive();
        if (!clean) {
            halted = true;
            LockSupport.unpark(writer);
            writer.join(1000);
        }
        stopHelpers();
        return clean;
    }

    /** Stops at once as a killed process would: nothing more is written or synced; held events are lost. */
    void halt() throws InterruptedException {
        halting = true;
        handOff.close();
        halted = true;
        LockSupport.unpark(writer);
        writer.join(5000);
        stopHelpers();
        // no response may wait for an event that will not be written now
        for (Pending p : handOff) {
            p.written.complete(null);
        }
    }

    private void stopHelpers() throws InterruptedException {
        syncerStopped = true;
        LockSupport.unpark(syncer);
        syncer.join(5000);
        watchdog.shutdownNow();
    }
}
