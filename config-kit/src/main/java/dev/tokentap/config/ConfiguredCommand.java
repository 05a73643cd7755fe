package dev.tokentap.config;

/**
 * A command run by {@link Cli#execute}: it is configured first, every problem reported at once before anything
 * starts, then run with the configuration.
 *
 * @param <C> its configuration
 */
public interface ConfiguredCommand<C> extends Configurable<C> {

    /** Runs with a valid configuration; returns the exit code. */
    int run(C config) throws Exception;
}
