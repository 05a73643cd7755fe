package dev.tokentap.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Medians over rounds and comparisons against the direct target. */
public final class Stats {

    private Stats() {
    }

    /** The median of the values (mean of the middle two for an even count); NaN for none. */
    public static double median(List<Double> values) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    /** Per round, {@code target - direct}; the median of those differences. Rounds missing on either side are skipped. */
    public static double medianDifference(List<Double> target, List<Double> direct) {
        List<Double> differences = new ArrayList<>();
        for (int i = 0; i < Math.min(target.size(), direct.size()); i++) {
            differences.add(target.get(i) - direct.get(i));
        }
        return median(differences);
    }

    /** Per round, {@code target / direct}; the median of those ratios. Rounds where direct is 0 are skipped. */
    public static double medianRatio(List<Double> target, List<Double> direct) {
        List<Double> ratios = new ArrayList<>();
        for (int i = 0; i < Math.min(target.size(), direct.size()); i++) {
            if (direct.get(i) != 0) {
                ratios.add(target.get(i) / direct.get(i));
            }
        }
        return median(ratios);
    }

    /** {@code a / b}, or NaN when b is 0. */
    public static double ratio(double a, double b) {
        return b == 0 ? Double.NaN : a / b;
    }

    /** Rounds to {@code digits} decimals, for tables and JSON that people read. */
    public static double round(double value, int digits) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            return value;
        }
        double scale = Math.pow(10, digits);
        return Math.round(value * scale) / scale;
    }
}
