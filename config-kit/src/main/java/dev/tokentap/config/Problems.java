package dev.tokentap.config;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * Collects what is wrong with a configuration, so that a record's constructor can name every bad value at once:
 * {@code new Problems().port("--port", port).positive("--connect-timeout", timeout).throwIfAny()}. A problem starts
 * with the option it is about, so that a value already reported as unreadable is not reported again as invalid.
 */
public final class Problems {

    /** Kafka's rule for topic names; an application id becomes a prefix of topic names, so it applies there too. */
    private static final Pattern KAFKA_NAME = Pattern.compile("[a-zA-Z0-9._-]{1,249}");

    private final List<String> problems = new ArrayList<>();

    public Problems add(String problem) {
        problems.add(problem);
        return this;
    }

    /** Adds {@code problem} unless {@code ok}. */
    public Problems check(boolean ok, String problem) {
        return ok ? this : add(problem);
    }

    public Problems required(String option, Object value) {
        return check(value != null && !(value instanceof String s && s.isBlank()), option + " must be set");
    }

    public Problems port(String option, int port) {
        return check(port >= 0 && port <= 65_535, option + " must be between 0 and 65535, got " + port);
    }

    public Problems atLeast(String option, long value, long min) {
        return check(value >= min, option + " must be at least " + min + ", got " + value);
    }

    public Problems positive(String option, Duration value) {
        return check(value != null && !value.isNegative() && !value.isZero(),
                option + " must be more than zero, got " + value);
    }

    public Problems notNegative(String option, Duration value) {
        return check(value != null && !value.isNegative(), option + " must be zero or more, got " + value);
    }

    public Problems kafkaName(String option, String name) {
        return check(name != null && KAFKA_NAME.matcher(name).matches() && !".".equals(name) && !"..".equals(name),
                option + " must be 1 to 249 letters, digits, '.', '_' or '-', got '" + name + "'");
    }

    /**
     * Builds a part of the configuration; its problems join these, and null stands for it when it had any. A part
     * that refuses its values with a plain {@link IllegalArgumentException} adds its message.
     */
    public <T> T collect(Supplier<T> part) {
        try {
            return part.get();
        } catch (ConfigException e) {
            problems.addAll(e.problems());
        } catch (IllegalArgumentException e) {
            problems.add(e.getMessage());
        }
        return null;
    }

    public boolean isEmpty() {
        return problems.isEmpty();
    }

    public List<String> list() {
        return List.copyOf(problems);
    }

    /** @throws ConfigException naming every problem, if there is one */
    public void throwIfAny() {
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
    }
}
