package dev.tokentap.testkit.sim;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executor;

/**
 * Releases per response id for a simulator that answers step by step: a step that is due runs only once a test has
 * released it, so a test decides when the upstream sends its next event rather than guessing from the clock. A
 * release that comes before its step is kept; a step that comes before its release waits, holding no thread.
 */
final class StepGates {

    private final int limit;
    private final Map<String, Gate> gates = new LinkedHashMap<>(16, 0.75f, false) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Gate> eldest) {
            return size() > limit;
        }
    };

    /** Releases and waiting steps of one response id. */
    private static final class Gate {
        private int released;
        private Runnable waiting;
    }

    /** Keeps the gates of at most {@code limit} response ids, dropping the oldest. */
    StepGates(int limit) {
        this.limit = limit;
    }

    /** Lets {@code steps} more steps of the response go; a step already waiting runs at once on {@code executor}. */
    void release(String responseId, int steps, Executor executor) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        }
        Runnable ready;
        synchronized (gates) {
            Gate gate = gates.computeIfAbsent(responseId, id -> new Gate());
            gate.released += steps;
            ready = take(gate);
        }
        if (ready != null) {
            executor.execute(ready);
        }
    }

    /** Runs {@code step} now if a release is there for it, or once one comes. One step waits per response. */
    void whenReleased(String responseId, Runnable step) {
        synchronized (gates) {
            Gate gate = gates.computeIfAbsent(responseId, id -> new Gate());
            if (gate.waiting != null) {
                throw new IllegalStateException("a step of " + responseId + " is already waiting");
            }
            gate.waiting = step;
            step = take(gate);
        }
        if (step != null) {
            step.run();
        }
    }

    /** The response is over: its gate, and a step still waiting, are dropped. */
    void forget(String responseId) {
        synchronized (gates) {
            gates.remove(responseId);
        }
    }

    private static Runnable take(Gate gate) {
        if (gate.waiting == null || gate.released == 0) {
            return null;
        }
        gate.released--;
        Runnable step = gate.waiting;
        gate.waiting = null;
        return step;
    }
}
