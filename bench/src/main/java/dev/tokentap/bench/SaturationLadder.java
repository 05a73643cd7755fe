package dev.tokentap.bench;

/**
 * When to stop raising concurrency: after throughput has grown by less than {@link #MIN_GROWTH} at two levels in a
 * row, or the last level is reached. Growth is measured against the best level so far, so one noisy dip does not
 * reset the count of flat steps.
 */
public final class SaturationLadder {

    public static final double MIN_GROWTH = 0.05;
    private static final int FLAT_STEPS_TO_STOP = 2;

    private double best;
    private int flatSteps;
    private boolean stopped;

    /** Records one level's throughput; returns whether the ladder should stop after it. */
    public boolean record(double throughput) {
        if (stopped) {
            return true;
        }
        if (best > 0 && throughput < best * (1 + MIN_GROWTH)) {
            flatSteps++;
        } else {
            flatSteps = 0;
        }
        best = Math.max(best, throughput);
        stopped = flatSteps >= FLAT_STEPS_TO_STOP;
        return stopped;
    }

    public boolean stopped() {
        return stopped;
    }

    public double best() {
        return best;
    }
}
