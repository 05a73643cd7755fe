package dev.tokentap.aggregator.topology;

import dev.tokentap.event.Routes;
import java.util.Set;

/**
 * The routes whose usage is reported under their own {@code full_path} label; every other route is {@code other}.
 * The list itself is the contract's ({@link Routes#METERED}), so the proxy and the aggregator cannot disagree.
 */
public final class MeteredRoutes {

    /** The {@code full_path} value for a route that is not in {@link #KNOWN}. */
    public static final String OTHER = Routes.OTHER;

    /** Every known route. */
    public static final Set<String> KNOWN = Set.copyOf(Routes.METERED);

    private MeteredRoutes() {
    }

    /** {@code route} if it is known, else {@link #OTHER}. */
    public static String fullPath(String route) {
        return Routes.fullPath(route);
    }
}
