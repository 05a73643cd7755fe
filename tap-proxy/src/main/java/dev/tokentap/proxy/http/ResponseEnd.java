package dev.tokentap.proxy.http;

import java.nio.ByteBuffer;
import org.eclipse.jetty.util.Callback;

/**
 * Holds back the end of one response until its usage event has been handed over for good (written to the spool's
 * file), so that a client that saw its response complete is never missing from the usage log, whatever moment the
 * proxy is killed at. Nothing waits on a thread for it.
 *
 * <p>From {@link #hold} on, what the client writer would write is copied aside instead ({@link #write}); the
 * writer carries on as if it had written it, so the upstream is read to its end as usual. {@link #release}, called
 * by whichever thread completes the hand-over, asks the writer to write what was kept, behind whatever it still has
 * queued; what waits for the end ({@link #afterRelease}: completing the response, which sends a chunked body's last
 * chunk) runs once that is written. At most {@link #MAX_HELD_BYTES} are kept: beyond, they go to the client and only
 * what follows is held, so an upstream that carries on long after its final usage cannot grow memory.
 *
 * <p>Release comes from {@link MeteredExchanges#finish}, which {@link MeteringProxyHandler} calls at the upstream's
 * end (or at a body's last bytes) or failure: after it nothing new is held.
 */
final class ResponseEnd {

    static final int MAX_HELD_BYTES = 64 * 1024;
    /** Queued behind the writes when released: the writer writes what is held in its place. Never written itself. */
    private static final ByteBuffer FLUSH = ByteBuffer.wrap(new byte[1]).asReadOnlyBuffer();

    /** The client-side writer of the response. */
    interface Writer {
        /** Queues a write behind those already queued. */
        void pass(ByteBuffer content, Callback callback);

        /** Writes what is queued. */
        void resume();
    }

    private Writer writer;
    private byte[] held;
    private int heldLength;
    private boolean holding;
    private boolean released;
    /** Released, and what was held is written (or will never be): the response may complete. */
    private boolean ended;
    private Runnable afterRelease;
    /** The response has been completed: its request may already serve the connection's next one. */
    private volatile boolean completed;

    /** The writer of this response's body; a response without a body has none. */
    synchronized void attach(Writer to) {
        writer = to;
    }

    /** Keeps back everything written from now on, until {@link #release}; nothing once released. */
    synchronized void hold() {
        holding = !released;
    }

    /**
     * What the writer should write instead of {@code content}: null while it is held (copied aside), what was held
     * followed by {@code content} once released, {@code content} itself when nothing is held.
     */
    synchronized ByteBuffer write(ByteBuffer content) {
        if (content == FLUSH) {
            return takeHeld(null);
        }
        if (holding && !released) {
            keep(content);
            // an upstream carrying on long after its usage: let it through rather than grow, hold what follows
            return heldLength > MAX_HELD_BYTES ? takeHeld(null) : null;
        }
        return heldLength > 0 ? takeHeld(content) : content;
    }

    private void keep(ByteBuffer content) {
        int length = content.remaining();
        if (held == null || held.length - heldLength < length) {
            byte[] bigger = new byte[Math.max(heldLength + length, held == null ? length : held.length * 2)];
            if (held != null) {
                System.arraycopy(held, 0, bigger, 0, heldLength);
            }
            held = bigger;
        }
        content.duplicate().get(held, heldLength, length);
        heldLength += length;
    }

    private ByteBuffer takeHeld(ByteBuffer then) {
        if (heldLength == 0) {
            return then;
        }
        ByteBuffer all = ByteBuffer.allocate(heldLength + (then == null ? 0 : then.remaining()));
        all.put(held, 0, heldLength);
        if (then != null) {
            all.put(then.duplicate());
        }
        heldLength = 0;
        return all.flip();
    }

    /** Runs {@code action} once the end is released and written: at once if it is. */
    void afterRelease(Runnable action) {
        synchronized (this) {
            if (!ended) {
                afterRelease = action;
                return;
            }
        }
        action.run();
    }

    /** Lets the end go: what is held is written behind what the writer has queued, then the response may end. */
    void release() {
        Writer to;
        synchronized (this) {
            if (released) {
                return;
            }
            released = true;
            to = heldLength > 0 ? writer : null;
            if (to != null) {
                // queued under the lock: no write offered meanwhile can overtake it
                to.pass(FLUSH, Callback.from(this::written, failure -> written()));
            }
        }
        if (to != null) {
            to.resume();
        } else {
            written();
        }
    }

    /** The response is being completed: from now on nothing of it is written, and no failure is its client's. */
    void complete() {
        completed = true;
    }

    boolean completed() {
        return completed;
    }

    /** The client is gone: nothing held will be written, and the response may end whenever it is released. */
    void writerFailed() {
        synchronized (this) {
            writer = null;
            heldLength = 0;
            if (!released) {
                return;
            }
        }
        written();
    }

    private void written() {
        Runnable after;
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
            after = afterRelease;
            afterRelease = null;
        }
        if (after != null) {
            after.run();
        }
    }
}
