package dev.tokentap.config;

import java.util.Map;

/** Options that read more of the environment than one variable per option (the Kafka client properties). */
public interface EnvironmentAware {

    /** Called once the command line is parsed, with the environment it was parsed against. */
    void environment(Map<String, String> env);
}
