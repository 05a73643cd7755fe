package dev.tokentap.bench;

import java.net.URI;

/**
 * One way to reach the simulator: {@code direct}, through {@code tap-proxy}, through {@code nginx}, or through
 * {@code tokentap run}.
 *
 * @param name    the name in tables, JSON and charts
 * @param baseUrl where requests go
 * @param process the process in the path whose CPU and memory are reported: the proxy, nginx, or for direct the
 *                simulator itself; for {@code tokentap run} the launcher and the JVM it starts
 */
public record Target(String name, URI baseUrl, ChildProcess process) {

    public static final String DIRECT = "direct";
    public static final String TAP_PROXY = "tap-proxy";
    /** An experimental reverse proxy on Netty with tap-proxy's tap and publisher ({@code --netty-proxy}). */
    public static final String NETTY_PROXY = "netty-proxy";
    public static final String NGINX = "nginx";
    /**
     * {@code tokentap run} as a newcomer starts it (no JVM options, its own embedded broker and aggregator),
     * {@code --run-target}.
     */
    public static final String TOKENTAP_RUN = "tokentap-run";

    /** Whether the target is a tokentap proxy, whose threads are measured apart ({@link ThreadCpu#PROXY}). */
    public boolean tokentapProxy() {
        return name.equals(TAP_PROXY) || name.startsWith(TAP_PROXY + "-") || name.equals(TOKENTAP_RUN);
    }
}
