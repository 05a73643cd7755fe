package dev.tokentap.aggregator.topology;

import java.util.Set;

/** The routes whose usage is reported under their own {@code full_path} label; every other route is {@code other}. */
public final class MeteredRoutes {

    /** The {@code full_path} value for a route that is not in {@link #KNOWN}. */
    public static final String OTHER = "other";

    /** The one list of metered routes; adding one here adds a label value, so keep it short. */
    public static final Set<String> KNOWN = Set.of(
            "/v1/completions",
            "/v1/chat/completions");

    private MeteredRoutes() {
    }

    /** {@code route} if it is known, else {@link #OTHER}. */
    public static String fullPath(String route) {
        return route != null && KNOWN.contains(route) ? route : OTHER;
    }
}
