package dev.tokentap.bench;

import java.net.URI;

/**
 * One way to reach the simulator: {@code direct}, through {@code tap-proxy}, or through {@code nginx}.
 *
 * @param name    the name in tables, JSON and charts
 * @param baseUrl where requests go
 * @param process the process in the path whose CPU and memory are reported: the proxy, nginx, or for direct the
 *                simulator itself
 */
public record Target(String name, URI baseUrl, ChildProcess process) {

    public static final String DIRECT = "direct";
    public static final String TAP_PROXY = "tap-proxy";
    /** tap-proxy on Jetty's core proxy handler instead of the servlet (an experiment, {@code --core-proxy}). */
    public static final String TAP_PROXY_CORE = "tap-proxy-core";
    /** An experimental reverse proxy on Netty with tap-proxy's tap and publisher ({@code --netty-proxy}). */
    public static final String NETTY_PROXY = "netty-proxy";
    public static final String NGINX = "nginx";
}
