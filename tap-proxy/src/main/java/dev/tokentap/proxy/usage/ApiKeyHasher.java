package dev.tokentap.proxy.usage;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Turns the bearer token of an {@code Authorization} header into {@code api_key_id}: the hex HMAC-SHA-256 of the
 * token under a secret, so usage can be grouped by key without the key ever leaving the proxy. Thread-safe.
 */
public final class ApiKeyHasher {

    private static final String ALGORITHM = "HmacSHA256";
    private static final String BEARER = "bearer ";

    /** Keys recently seen and their ids: a client sends the same key with every request. */
    static final int CACHED_KEYS = 1024;

    private final ThreadLocal<Mac> macs;
    /**
     * Bounded by {@link #CACHED_KEYS}: emptied when full rather than kept in order, since a proxy sees a handful of
     * keys and a client cycling through thousands only pays the HMAC it paid before. Only the id of a key is kept
     * as a value; the key itself is already in this process's memory for every request that carries it.
     */
    private final ConcurrentHashMap<String, String> recent = new ConcurrentHashMap<>();

    public ApiKeyHasher(byte[] secret) {
        if (secret == null || secret.length == 0) {
            throw new IllegalArgumentException("the API key hash secret must not be empty");
        }
        SecretKeySpec key = new SecretKeySpec(secret.clone(), ALGORITHM);
        newMac(key); // fail now, not on the first request, if the JVM lacks the algorithm
        this.macs = ThreadLocal.withInitial(() -> newMac(key));
    }

    private static Mac newMac(SecretKeySpec key) {
        try {
            Mac mac = Mac.getInstance(ALGORITHM);
            mac.init(key);
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HMAC-SHA-256 is not available", e);
        }
    }

    /** The key id for an {@code Authorization} header value, or null when it holds no bearer token. */
    public String idForAuthorization(String authorization) {
        return idForToken(bearerToken(authorization));
    }

    /** The key id for a bearer token, or null when there is none. */
    public String idForToken(String token) {
        if (token == null || token.isEmpty()) {
            return null;
        }
        String id = recent.get(token);
        if (id != null) {
            return id;
        }
        Mac mac = macs.get();
        id = HexFormat.of().formatHex(mac.doFinal(token.getBytes(StandardCharsets.UTF_8)));
        if (recent.size() >= CACHED_KEYS) {
            recent.clear();
        }
        recent.put(token, id);
        return id;
    }

    /** The token of a {@code Bearer} authorization (scheme matched case-insensitively), or null. */
    static String bearerToken(String authorization) {
        if (authorization == null) {
            return null;
        }
        String value = authorization.strip();
        if (value.length() <= BEARER.length()
                || !value.substring(0, BEARER.length()).toLowerCase(Locale.ROOT).equals(BEARER)) {
            return null;
        }
        String token = value.substring(BEARER.length()).strip();
        return token.isEmpty() ? null : token;
    }
}
