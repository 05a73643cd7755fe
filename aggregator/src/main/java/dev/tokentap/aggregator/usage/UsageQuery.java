package dev.tokentap.aggregator.usage;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A question to {@code /api/v1/usage}: the usage from {@code from} (inclusive) to {@code to} (exclusive), in steps of
 * an hour or a day counted from {@code from}, grouped by some of namespace, client_name, model and route. Both ends
 * lie on whole hours (UTC): the hourly sums cannot be split. Pure.
 *
 * @param from    epoch milliseconds, on a whole hour
 * @param to      epoch milliseconds, on a whole hour, after {@code from}
 * @param step    one hour or one day
 * @param groupBy the dimensions rows are grouped by, in the order given; empty for one row per step
 */
public record UsageQuery(long from, long to, Duration step, List<String> groupBy) {

    /** What rows can be grouped by. */
    public static final List<String> DIMENSIONS = List.of("namespace", "client_name", "model", "route");
    /** The grouping when none is asked for: every dimension. */
    public static final List<String> DEFAULT_GROUP_BY = DIMENSIONS;
    /** The most steps one answer holds. */
    public static final int MAX_STEPS = 10_000;

    static final long HOUR = Duration.ofHours(1).toMillis();

    public UsageQuery {
        groupBy = List.copyOf(groupBy);
    }

    /**
     * Reads the query parameters {@code from}, {@code to}, {@code step} ({@code 1h} or {@code 1d}, default {@code 1h})
     * and {@code group_by} (comma-separated).
     *
     * @throws BadQuery naming every bad parameter
     */
    public static UsageQuery parse(Map<String, String> params, Duration retention, long now) {
        List<String> problems = new ArrayList<>();
        String badParam = null;
        Long from = time(params.get("from"), "from", problems);
        Long to = time(params.get("to"), "to", problems);
        if (from == null || to == null) {
            badParam = from == null ? "from" : "to";
        }
        String stepText = params.getOrDefault("step", "1h");
        Duration step = switch (stepText == null ? "" : stepText.trim()) {
            case "1h", "" -> Duration.ofHours(1);
            case "1d" -> Duration.ofDays(1);
            default -> {
                problems.add("step must be 1h or 1d, got '" + stepText + "'");
                badParam = badParam == null ? "step" : badParam;
                yield null;
            }
        };
        Set<String> groupBy = new LinkedHashSet<>();
        String groupText = params.get("group_by");
        if (groupText == null) {
            groupBy.addAll(DEFAULT_GROUP_BY);
        } else {
            for (String part : groupText.split(",")) {
                String name = part.trim();
                if (name.isEmpty()) {
                    continue;
                }
                if (!DIMENSIONS.contains(name)) {
                    problems.add("group_by takes " + String.join(", ", DIMENSIONS) + "; not '" + name + "'");
                    badParam = badParam == null ? "group_by" : badParam;
                } else {
                    groupBy.add(name);
                }
            }
        }
        if (from != null && to != null) {
            if (from % HOUR != 0 || to % HOUR != 0) {
                problems.add("from and to must be on whole hours (UTC), e.g. 2026-05-01T10:00:00Z");
                badParam = badParam == null ? "from" : badParam;
            } else if (to <= from) {
                problems.add("to must be after from");
                badParam = badParam == null ? "to" : badParam;
            } else if (step != null && (to - from) / step.toMillis() > MAX_STEPS) {
                problems.add("at most " + MAX_STEPS + " steps per query; ask for step=1d or a shorter range");
                badParam = badParam == null ? "step" : badParam;
            }
            if (from < now - retention.toMillis() - HOUR) {
                problems.add("from is older than the aggregator keeps hourly sums (--usage-retention "
                        + retention.toDays() + "d)");
                badParam = badParam == null ? "from" : badParam;
            }
        }
        if (!problems.isEmpty()) {
            throw new BadQuery(badParam, String.join("; ", problems));
        }
        return new UsageQuery(from, to, step, List.copyOf(groupBy));
    }

    /** The start of the step {@code hour} falls in. */
    public long bucketOf(long hour) {
        return from + Math.floorDiv(hour - from, step.toMillis()) * step.toMillis();
    }

    /** The step as the API writes it. */
    public String stepName() {
        return step.equals(Duration.ofDays(1)) ? "1d" : "1h";
    }

    /** The query's parameters, to ask another replica the same. */
    public String toQueryString() {
        return "from=" + Instant.ofEpochMilli(from) + "&to=" + Instant.ofEpochMilli(to) + "&step=" + stepName()
                + "&group_by=" + String.join(",", groupBy);
    }

    /** RFC 3339 ({@code 2026-05-01T10:00:00Z}, an offset allowed), a date (midnight UTC), or epoch milliseconds. */
    static Long time(String text, String name, List<String> problems) {
        if (text == null || text.isBlank()) {
            problems.add(name + " is required (RFC 3339, e.g. 2026-05-01T00:00:00Z, or a date)");
            return null;
        }
        String t = text.trim();
        try {
            if (t.chars().allMatch(Character::isDigit)) {
                return Long.parseLong(t);
            }
            if (t.length() == 10) {
                return LocalDate.parse(t).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
            }
            return OffsetDateTime.parse(t).toInstant().toEpochMilli();
        } catch (DateTimeParseException | NumberFormatException e) {
            problems.add(name + " is not a time: '" + text + "' (RFC 3339, e.g. 2026-05-01T00:00:00Z, or a date)");
            return null;
        }
    }

    /** A query that cannot be answered as asked; {@link #param()} names the first bad parameter. */
    public static final class BadQuery extends IllegalArgumentException {
        private final String param;

        BadQuery(String param, String message) {
            super(message);
            this.param = param;
        }

        public String param() {
            return param;
        }
    }
}
