package dev.tokentap.proxy.usage;

import java.util.List;
import org.eclipse.jetty.util.URIUtil;

/**
 * Which requests are metered, decided on a normalised path so that spellings like {@code //v1/./chat/completions}
 * or {@code /v1/chat%2Fcompletions} cannot slip past the tap while still reaching the upstream's route.
 */
public final class MeteredRoutes {

    public static final String CHAT_COMPLETIONS = "/v1/chat/completions";
    public static final String COMPLETIONS = "/v1/completions";
    /** The route tag of every request that is not metered. */
    public static final String OTHER = "other";

    /** Every metered route. */
    public static final List<String> ALL = List.of(CHAT_COMPLETIONS, COMPLETIONS);

    private MeteredRoutes() {
    }

    /**
     * The path to forward upstream: still percent-encoded, with empty segments and dot segments resolved; null
     * when the path climbs above the root.
     */
    public static String forwardPath(String encodedPath) {
        if (encodedPath == null || encodedPath.isEmpty()) {
            return "/";
        }
        return URIUtil.canonicalPath(URIUtil.compactPath(encodedPath));
    }

    /** The decoded, normalised form of a forwarded path, as an upstream router would see it; null if not normal. */
    public static String normalise(String forwardPath) {
        if (forwardPath == null) {
            return null;
        }
        String decoded;
        try {
            decoded = URIUtil.decodePath(forwardPath);
        } catch (IllegalArgumentException e) {
            return null;
        }
        String normal = URIUtil.normalizePath(URIUtil.compactPath(decoded));
        return normal;
    }

    /** The metered route for a method and normalised path, or null when the request is not metered. */
    public static String meteredRoute(String method, String normalisedPath) {
        if (!"POST".equals(method) || normalisedPath == null) {
            return null;
        }
        for (String route : ALL) {
            if (route.equals(normalisedPath)) {
                return route;
            }
        }
        return null;
    }
}
