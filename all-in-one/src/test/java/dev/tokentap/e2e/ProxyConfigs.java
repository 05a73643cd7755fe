package dev.tokentap.e2e;

import dev.tokentap.proxy.TapProxyConfig;
import java.util.ArrayList;
import java.util.List;

/** Proxy configurations as the end-to-end tests start them: on loopback, on free ports, from the flags an operator gives. */
final class ProxyConfigs {

    private ProxyConfigs() {
    }

    /**
     * A proxy in front of {@code upstream} publishing to {@code kafka}, events held in memory unless {@code more}
     * names a spool; {@code more} comes after the tests' own flags, so the last one wins.
     */
    static TapProxyConfig loopback(Object upstream, String kafka, String... more) {
        List<String> args = new ArrayList<>(List.of("--upstream", upstream.toString(), "--kafka", kafka,
                "--listen", "127.0.0.1", "--port", "0", "--admin-port", "0", "--spool-dir", "none"));
        args.addAll(List.of(more));
        return TapProxyConfig.fromArgs(args.toArray(String[]::new));
    }
}
