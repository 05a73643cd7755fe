package dev.tokentap.proxy.usage;

import dev.tokentap.event.Routes;
import java.util.List;
import org.eclipse.jetty.util.URIUtil;

/**
 * Which requests are metered, decided on a normalised path so that spellings like {@code //v1/./chat/completions}
 * or {@code /v1/chat%2Fcompletions} cannot slip past the tap while still reaching the upstream's route.
 */
public final class MeteredRoutes {

    public static final String CHAT_COMPLETIONS = Routes.CHAT_COMPLETIONS;
    public static final String COMPLETIONS = Routes.COMPLETIONS;
    /** The route of a request to an unknown path: observed, and published only if it returns a usage object. */
    public static final String OTHER = Routes.OTHER;

    /** Every metered route (the contract's list). */
    public static final List<String> ALL = Routes.METERED;

    private static final String RESPONSES_PREFIX = Routes.RESPONSES + '/';

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
        return URIUtil.normalizePath(URIUtil.compactPath(decoded));
    }

    /**
     * The route a request is metered under: one of {@link #ALL}; {@link #OTHER} for a path vLLM is not known to
     * serve (read, and published only if it returns usage); null for the routes that are only forwarded
     * ({@link Routes#NOT_METERED}) and for paths that are not normal.
     */
    public static String meteredRoute(String method, String normalisedPath) {
        if (normalisedPath == null || method == null) {
            return null;
        }
        if (Routes.NOT_METERED.contains(normalisedPath)) {
            return null;
        }
        if ("GET".equals(method) && normalisedPath.startsWith(RESPONSES_PREFIX)
                && normalisedPath.indexOf('/', RESPONSES_PREFIX.length()) < 0
                && normalisedPath.length() > RESPONSES_PREFIX.length()) {
            return Routes.RESPONSES_GET;
        }
        if ("POST".equals(method)) {
            for (String route : ALL) {
                if (route.equals(normalisedPath)) {
                    return route;
                }
            }
        }
        return OTHER;
    }

    /** Whether requests to {@code route} take {@code stream_options}, so the proxy may ask for usage in a stream. */
    public static boolean takesStreamOptions(String route) {
        return streamUsagePolicy(route) != null;
    }

    /**
     * How streams of {@code route} are made to report usage and how that is undone for the client; null for a
     * route whose streams the proxy leaves as they are (they report usage on their own, or cannot be asked to).
     */
    public static StreamUsagePolicy streamUsagePolicy(String route) {
        if (CHAT_COMPLETIONS.equals(route)) {
            return StreamUsagePolicy.CHAT;
        }
        if (COMPLETIONS.equals(route)) {
            return StreamUsagePolicy.COMPLETIONS;
        }
        return null;
    }

    /** Whether the request body of {@code route} may be JSON worth reading for its {@code model} and {@code user}. */
    public static boolean readsJsonBody(String route) {
        // an unknown route's body is only read (never rewritten), for the model of an event it may produce
        return route != null && !Routes.RESPONSES_GET.equals(route) && !readsMultipartBody(route);
    }

    /** Whether the request body of {@code route} is a multipart form (audio), read only for its {@code model}. */
    public static boolean readsMultipartBody(String route) {
        return Routes.AUDIO_TRANSCRIPTIONS.equals(route) || Routes.AUDIO_TRANSLATIONS.equals(route);
    }
}
