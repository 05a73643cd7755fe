package dev.tokentap.cli;

import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Lets every flag of the launcher come from the environment: {@code --foo-bar} reads {@code TOKENTAP_FOO_BAR},
 * and {@code --kafka} reads {@code KAFKA_BOOTSTRAP_SERVERS} like the proxy and the aggregator do. A flag on the
 * command line wins.
 */
final class EnvDefaults implements IDefaultValueProvider {

    private final Map<String, String> env;

    EnvDefaults(Map<String, String> env) {
        this.env = env;
    }

    /** The environment variable that stands for {@code --name}. */
    static String variableFor(String longName) {
        if ("--kafka".equals(longName)) {
            return "KAFKA_BOOTSTRAP_SERVERS";
        }
        return "TOKENTAP_" + longName.replaceFirst("^--", "").replace('-', '_').toUpperCase(Locale.ROOT);
    }

    @Override
    public String defaultValue(ArgSpec argSpec) {
        if (!(argSpec instanceof OptionSpec option) || option.usageHelp() || option.versionHelp()) {
            return null;
        }
        String value = env.get(variableFor(option.longestName()));
        return value == null || value.isBlank() ? argSpec.defaultValue() : value;
    }
}
