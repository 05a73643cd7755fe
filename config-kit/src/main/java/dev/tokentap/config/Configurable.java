package dev.tokentap.config;

/**
 * Options, once picocli has filled them in, turned into the validated configuration {@code C}.
 *
 * @param <C> the configuration, built from small records each validated where it is built
 */
public interface Configurable<C> {

    /** @throws ConfigException naming every problem of every part */
    C configure();
}
