package dev.tokentap.testkit.metrics;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** The samples of a Prometheus text exposition (format 0.0.4 or OpenMetrics), for tests that read a scrape. */
public final class PrometheusText {

    /** One sample line: metric name, labels, value. */
    public record Sample(String name, Map<String, String> labels, BigDecimal value) {
        /** The value as an exact whole number; fails if it has a fraction. */
        public long longValue() {
            return value.longValueExact();
        }
    }

    private final List<Sample> samples;

    private PrometheusText(List<Sample> samples) {
        this.samples = samples;
    }

    /**
     * Parses every sample of {@code text}. Comment lines ({@code # HELP}, {@code # TYPE}) and samples whose value is
     * not a finite number are skipped.
     */
    public static PrometheusText parse(String text) {
        List<Sample> samples = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Sample sample = sample(line);
            if (sample != null) {
                samples.add(sample);
            }
        }
        return new PrometheusText(samples);
    }

    /** Every sample named {@code name}. */
    public List<Sample> samples(String name) {
        return samples.stream().filter(s -> s.name().equals(name)).toList();
    }

    /** Every sample. */
    public List<Sample> samples() {
        return samples;
    }

    /** The sum of the samples named {@code name} whose labels include every one of {@code labels}. */
    public long sum(String name, Map<String, String> labels) {
        return samples(name).stream()
                .filter(s -> labels.entrySet().stream()
                        .allMatch(e -> Objects.equals(s.labels().get(e.getKey()), e.getValue())))
                .mapToLong(Sample::longValue)
                .sum();
    }

    private static Sample sample(String line) {
        int brace = line.indexOf('{');
        int space = line.indexOf(' ');
        String name;
        Map<String, String> labels = new LinkedHashMap<>();
        int valueStart;
        if (brace >= 0 && brace < space) {
            name = line.substring(0, brace);
            int i = brace + 1;
            while (line.charAt(i) != '}') {
                int eq = line.indexOf('=', i);
                String key = line.substring(i, eq);
                StringBuilder value = new StringBuilder();
                int j = eq + 2; // past ="
                while (line.charAt(j) != '"') {
                    char c = line.charAt(j);
                    if (c == '\\') {
                        char next = line.charAt(++j);
                        value.append(next == 'n' ? '\n' : next);
                    } else {
                        value.append(c);
                    }
                    j++;
                }
                labels.put(key, value.toString());
                i = j + 1;
                if (line.charAt(i) == ',') {
                    i++;
                }
            }
            valueStart = i + 1;
        } else {
            name = line.substring(0, space);
            valueStart = space;
        }
        String number = line.substring(valueStart).trim().split(" ")[0];
        try {
            return new Sample(name, labels, new BigDecimal(number));
        } catch (NumberFormatException e) {
            return null; // NaN and ±Inf gauges have no exact value to compare; counters never take them
        }
    }
}
