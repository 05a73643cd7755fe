package dev.tokentap.config;

import picocli.CommandLine.Option;

/** {@code --listen}, shared by the proxy, the aggregator and {@code tokentap run}, which binds both with one. */
public final class ListenOption {

    public static final String ALL_INTERFACES = "0.0.0.0";

    @Option(names = "--listen", paramLabel = "ADDRESS", defaultValue = ALL_INTERFACES,
            description = "address the servers bind, e.g. 127.0.0.1")
    String address;

    public String address() {
        return address;
    }
}
