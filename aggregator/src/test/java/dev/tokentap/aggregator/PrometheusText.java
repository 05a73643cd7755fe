package dev.tokentap.aggregator;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** Test helper: the samples of a Prometheus text (0.0.4 or OpenMetrics) exposition. */
final class PrometheusText {

    record Sample(String name, Map<String, String> labels, BigDecimal value) {
        /** The value as an exact whole number; fails if it has a fraction or is too large for a double. */
        long longValue() {
            return value.longValueExact();
        }
    }

    private final List<Sample> samples;

    private PrometheusText(List<Sample> samples) {
        this.samples = samples;
    }

    static PrometheusText parse(String text) {
        List<Sample> samples = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            samples.add(sample(line));
        }
        return new PrometheusText(samples);
    }

    List<Sample> samples(String name) {
        return samples.stream().filter(s -> s.name().equals(name)).toList();
    }

    /** Sum of the samples named {@code name} whose labels include every given one. */
    long sum(String name, Map<String, String> labels) {
        return samples(name).stream()
                .filter(s -> labels.entrySet().stream()
                        .allMatch(e -> Objects.equals(s.labels().get(e.getKey()), e.getValue())))
                .mapToLong(Sample::longValue)
                .sum();
    }

    private static Sample sample(String line) {
        int brace = line.indexOf('{');
        int space;
        String name;
        Map<String, String> labels = new LinkedHashMap<>();
        if (brace >= 0 && brace < line.indexOf(' ')) {
            name = line.substring(0, brace);
            int i = brace + 1;
            while (line.charAt(i) != '}') {
                int eq = line.indexOf('=', i);
                String key = line.substring(i, eq);
                StringBuilder value = new StringBuilder();
                int j = eq + 2; // skip ="
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
            space = i + 1;
        } else {
            space = line.indexOf(' ');
            name = line.substring(0, space);
        }
        String rest = line.substring(space).trim();
        String number = rest.split(" ")[0];
        return new Sample(name, labels, new BigDecimal(number));
    }
}
