package dev.tokentap.config;

import java.lang.reflect.AnnotatedElement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiFunction;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The environment-variable rule, the same for every option of every command: {@code --drain-timeout} reads
 * {@code TOKENTAP_DRAIN_TIMEOUT}, then any {@link EnvAlias}; an option given on the command line wins, a blank
 * variable counts as unset. {@code TOKENTAP_KAFKA_<NAME>} variables are Kafka client properties instead
 * ({@link #kafkaProperties}), so no option may be named {@code --kafka-…}.
 *
 * <p>A value that cannot be read is remembered as a problem of its option and the option keeps its default, so
 * that every other option is still read and reported on.
 */
public final class Environment implements IDefaultValueProvider {

    public static final String PREFIX = "TOKENTAP_";
    /** Variables with this prefix become Kafka client properties: {@code _} to {@code .}, lower case. */
    public static final String KAFKA_PREFIX = "TOKENTAP_KAFKA_";

    private final Map<String, String> env;
    private final BiFunction<OptionSpec, String, String> conversionProblem;
    private final Map<String, String> problems = new LinkedHashMap<>();

    /**
     * @param conversionProblem what is wrong with a value for an option, or null when it converts
     */
    Environment(Map<String, String> env, BiFunction<OptionSpec, String, String> conversionProblem) {
        this.env = Map.copyOf(env);
        this.conversionProblem = conversionProblem;
    }

    /** The variable an option name stands for: {@code --max-threads} → {@code TOKENTAP_MAX_THREADS}. */
    public static String variable(String longName) {
        return PREFIX + longName.replaceFirst("^-+", "").replace('-', '_').toUpperCase(Locale.ROOT);
    }

    /** The variables {@code option} reads, in the order they are tried. */
    public static List<String> variables(OptionSpec option) {
        List<String> names = new ArrayList<>();
        names.add(variable(option.longestName()));
        if (option.userObject() instanceof AnnotatedElement element) {
            EnvAlias aliases = element.getAnnotation(EnvAlias.class);
            if (aliases != null) {
                names.addAll(List.of(aliases.value()));
            }
        }
        return names;
    }

    /** Whether {@code option} takes part in the rule: help and version options do not. */
    static boolean reads(ArgSpec arg) {
        return arg instanceof OptionSpec option && !option.usageHelp() && !option.versionHelp();
    }

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!reads(arg)) {
            return null;
        }
        OptionSpec option = (OptionSpec) arg;
        for (String variable : variables(option)) {
            String value = env.get(variable);
            if (value != null && !value.isBlank()) {
                String problem = conversionProblem.apply(option, value);
                if (problem != null) {
                    problems.put(option.longestName(), option.longestName() + " (from " + variable + "): " + problem);
                    return null;
                }
                return value;
            }
        }
        return null;
    }

    /** Problems of values read so far, by option name. */
    Map<String, String> problems() {
        return Collections.unmodifiableMap(problems);
    }

    Map<String, String> env() {
        return env;
    }

    /** The Kafka client properties the environment sets, {@code TOKENTAP_KAFKA_SECURITY_PROTOCOL} as {@code security.protocol}. */
    public static Map<String, String> kafkaProperties(Map<String, String> env) {
        Map<String, String> properties = new TreeMap<>();
        env.forEach((name, value) -> {
            if (name.startsWith(KAFKA_PREFIX) && name.length() > KAFKA_PREFIX.length()) {
                properties.put(name.substring(KAFKA_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.'),
                        value);
            }
        });
        return properties;
    }
}
