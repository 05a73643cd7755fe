package dev.tokentap.aggregator.k8s;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Per IP, the pods that held it and when: a short, copy-on-write history of (pod, from, to) intervals. Lookups
 * read one map entry and scan a few array slots; updates (pod changes, rare) replace the entry's array. Deleted
 * pods stay as closed intervals (tombstones) for the retention, so late events still resolve, and a reused IP
 * resolves to whichever pod held it at the event's time.
 */
final class PodTimeline {

    static final long OPEN = Long.MAX_VALUE;

    /** One pod's hold on one IP: [from, to). */
    record Hold(String uid, PodIdentity identity, long from, long to) {
    }

    private static final Hold[] NONE = new Hold[0];

    private final ConcurrentHashMap<String, Hold[]> byIp = new ConcurrentHashMap<>();
    private final long retentionMillis;

    PodTimeline(long retentionMillis) {
        this.retentionMillis = retentionMillis;
    }

    /** The pod holding {@code ip} at {@code at}; null when none. Allocation-free. */
    PodIdentity lookup(String ip, long at) {
        Hold[] holds = byIp.get(ip);
        if (holds == null) {
            return null;
        }
        // newest last; a reused IP's newer holder wins where clocks make intervals touch
        for (int i = holds.length - 1; i >= 0; i--) {
            Hold h = holds[i];
            if (at >= h.from && at < h.to) {
                return h.identity;
            }
        }
        return null;
    }

    /**
     * Pod {@code uid} holds {@code ip} since {@code from} (or keeps holding it, with a possibly changed identity).
     * Another pod still open on the same IP lost it: its hold closes at {@code from}.
     */
    void hold(String ip, String uid, PodIdentity identity, long from) {
        byIp.compute(ip, (k, holds) -> {
            Hold[] current = holds == null ? NONE : holds;
            for (int i = 0; i < current.length; i++) {
                Hold h = current[i];
                if (h.uid.equals(uid) && h.to == OPEN) {
                    if (h.identity.equals(identity)) {
                        return current;
                    }
                    Hold[] changed = current.clone();
                    changed[i] = new Hold(uid, identity, h.from, OPEN);
                    return changed;
                }
            }
            Hold[] next = Arrays.copyOf(current, current.length + 1);
            for (int i = 0; i < current.length; i++) {
                Hold h = current[i];
                if (h.to == OPEN) {
                    next[i] = new Hold(h.uid, h.identity, h.from, Math.max(h.from, from));
                }
            }
            next[current.length] = new Hold(uid, identity, from, OPEN);
            Arrays.sort(next, (a, b) -> Long.compare(a.from, b.from));
            return next;
        });
    }

    /** Pod {@code uid} let go of {@code ip} at {@code at}: deleted, or finished. Its hold stays as a tombstone. */
    void release(String ip, String uid, long at) {
        byIp.computeIfPresent(ip, (k, holds) -> {
            for (int i = 0; i < holds.length; i++) {
                Hold h = holds[i];
                if (h.uid.equals(uid) && h.to == OPEN) {
                    Hold[] changed = holds.clone();
                    changed[i] = new Hold(uid, h.identity, h.from, Math.max(h.from, at));
                    return changed;
                }
            }
            return holds;
        });
    }

    /** Drops tombstones closed more than the retention before {@code now}. */
    void expire(long now) {
        long cutoff = now - retentionMillis;
        for (String ip : byIp.keySet()) {
            byIp.computeIfPresent(ip, (k, holds) -> {
                int keep = 0;
                for (Hold h : holds) {
                    if (h.to >= cutoff) {
                        keep++;
                    }
                }
                if (keep == holds.length) {
                    return holds;
                }
                if (keep == 0) {
                    return null;
                }
                Hold[] kept = new Hold[keep];
                int i = 0;
                for (Hold h : holds) {
                    if (h.to >= cutoff) {
                        kept[i++] = h;
                    }
                }
                return kept;
            });
        }
    }

    /** IPs with at least one hold, live or tombstone. */
    int size() {
        return byIp.size();
    }
}
