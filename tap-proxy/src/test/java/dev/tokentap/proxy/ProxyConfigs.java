package dev.tokentap.proxy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Proxy configurations as the tests start them: on loopback, on free ports, events held in memory unless told. */
final class ProxyConfigs {

    private ProxyConfigs() {
    }

    /** A proxy in front of {@code upstream}, with {@code more} flags after the tests' own (the last one wins). */
    static TapProxyConfig loopback(Object upstream, String... more) {
        return loopback(Map.of(), upstream.toString(), more);
    }

    /** As {@link #loopback(Object, String...)}, reading {@code env} too ({@code TOKENTAP_KAFKA_*}). */
    static TapProxyConfig loopback(Map<String, String> env, String upstream, String... more) {
        List<String> args = new ArrayList<>(List.of("--upstream", upstream, "--listen", "127.0.0.1",
                "--port", "0", "--admin-port", "0", "--spool-dir", "none"));
        args.addAll(List.of(more));
        return TapProxyConfig.fromArgs(args.toArray(String[]::new), env);
    }
}
