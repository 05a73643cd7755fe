package dev.tokentap.proxy.http;

import dev.tokentap.config.Problems;
import java.net.URI;
import java.time.Duration;

/**
 * The vLLM server every request is forwarded to, and how long the proxy waits for it.
 *
 * @param url            base URL, {@code http://} or {@code https://}, without query or fragment
 * @param connectTimeout how long to wait for a connection to it
 * @param timeout        how long it may stay silent, before its headers or between body bytes
 */
public record Upstream(URI url, Duration connectTimeout, Duration timeout) {

    public Upstream {
        Problems problems = new Problems();
        if (url == null) {
            problems.add("--upstream is required: the vLLM base URL, e.g. http://127.0.0.1:8000");
        } else if (!("http".equalsIgnoreCase(url.getScheme()) || "https".equalsIgnoreCase(url.getScheme()))
                || url.getHost() == null) {
            problems.add("--upstream must be an http:// or https:// URL with a host, got '" + url + "'");
        } else if (url.getRawQuery() != null || url.getRawFragment() != null) {
            problems.add("--upstream must not have a query or fragment, got '" + url + "'");
        }
        problems.positive("--connect-timeout", connectTimeout).positive("--upstream-timeout", timeout).throwIfAny();
    }

    /** {@code host:port}, for the {@code upstream} field of events. */
    public String authority() {
        return url.getRawAuthority();
    }

    /** The URL without a trailing slash, to which a request's path is appended. */
    public String base() {
        String base = url.toString();
        return base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
    }
}
