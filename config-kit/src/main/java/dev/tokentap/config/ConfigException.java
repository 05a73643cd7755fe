package dev.tokentap.config;

import java.util.List;

/** A configuration that cannot be used, with every problem found in it. */
public final class ConfigException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final List<String> problems;

    public ConfigException(List<String> problems) {
        super("invalid configuration: " + String.join("; ", problems));
        this.problems = List.copyOf(problems);
    }

    /** Each problem on its own, starting with the option it is about when there is one. */
    public List<String> problems() {
        return problems;
    }
}
