package dev.tokentap.proxy;

/** The tap-proxy process: configuration from flags and environment, then the proxy until the JVM stops. */
public final class TapProxyMain {

    private TapProxyMain() {
    }

    public static void main(String[] args) {
        TapProxyConfig config;
        try {
            config = TapProxyConfig.fromArgs(args, System.getenv());
        } catch (TapProxyConfig.HelpRequested help) {
            System.out.println(help.usage());
            return;
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        TapProxy proxy = TapProxy.start(config);
        Runtime.getRuntime().addShutdownHook(new Thread(proxy::close, "tokentap-shutdown"));
    }
}
