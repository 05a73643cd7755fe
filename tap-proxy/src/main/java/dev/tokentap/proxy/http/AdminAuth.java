package dev.tokentap.proxy.http;

import io.javalin.http.Handler;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/** Puts an admin endpoint behind a bearer token when one is configured; the probes stay open for the kubelet. */
final class AdminAuth {

    private AdminAuth() {
    }

    /** {@code handler}, answering 401 to a request without {@code Authorization: Bearer <token>}; as is if no token. */
    static Handler guard(String token, Handler handler) {
        if (token == null) {
            return handler;
        }
        byte[] expected = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
        return ctx -> {
            String given = ctx.header("Authorization");
            // constant time, so the token cannot be guessed byte by byte from response times
            if (given == null || !MessageDigest.isEqual(expected, given.getBytes(StandardCharsets.UTF_8))) {
                ctx.status(401).header("WWW-Authenticate", "Bearer").contentType("text/plain").result("unauthorized");
                return;
            }
            handler.handle(ctx);
        };
    }
}
