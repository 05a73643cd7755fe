package dev.tokentap.proxy;

import dev.tokentap.config.Cli;
import dev.tokentap.config.ConfiguredCommand;
import dev.tokentap.config.Ports;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** The tap-proxy process: configuration from flags and environment, then the proxy until the JVM stops. */
@Command(name = "tap-proxy")
public final class TapProxyMain implements ConfiguredCommand<TapProxyConfig> {

    @Mixin
    TapProxyOptions options;

    public static void main(String[] args) {
        int exit = Cli.execute(new TapProxyMain(), args, System.getenv());
        if (exit != 0) {
            System.exit(exit);
        }
    }

    @Override
    public TapProxyConfig configure() {
        return options.configure();
    }

    @Override
    public int run(TapProxyConfig config) {
        // before anything starts: a port in use is one line, not a half-started proxy and a stack trace
        Ports.requireFree(config.listen(), config.port(), "--port");
        Ports.requireFree(config.admin().listen(), config.admin().port(), "--admin-port");
        TapProxy proxy = TapProxy.start(config);
        Runtime.getRuntime().addShutdownHook(new Thread(proxy::close, "tokentap-shutdown"));
        return 0;
    }
}
