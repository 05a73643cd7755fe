package dev.tokentap.proxy.http;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/** Puts an admin endpoint behind a bearer token when one is configured; the probes stay open for the kubelet. */
final class AdminAuth {

    private final byte[] expected;

    /** @param token the bearer token asked for, or null to ask for none */
    AdminAuth(String token) {
        this.expected = token == null ? null : ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    }

    /** Whether a request with this {@code Authorization} header (null when absent) may pass. */
    boolean allows(String authorization) {
        if (expected == null) {
            return true;
        }
        // constant time, so the token cannot be guessed byte by byte from response times
        return authorization != null
                && MessageDigest.isEqual(expected, authorization.getBytes(StandardCharsets.UTF_8));
    }
}
