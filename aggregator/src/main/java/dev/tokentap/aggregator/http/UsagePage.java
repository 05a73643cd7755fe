package dev.tokentap.aggregator.http;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The usage page served at {@code /}: one HTML file with its script, drawing with Chart.js from its webjar. The one
 * file of the webjar the page loads is read once and served from a route: Javalin's webjar support mounts the jar it
 * is in as a zip file system and keeps it, and in the launcher's fat jar (tens of thousands of entries) that was
 * some 40 MiB of live heap for one 200 KiB script (docs/benchmarks.md, "Memory: where the resident set goes").
 */
final class UsagePage {

    /** Where Javalin serves the Chart.js webjar; the page loads it from here. */
    static final String CHART_JS = "/webjars/chart.js/4.4.1/dist/chart.umd.js";
    /** Where the webjar keeps it on the class path. */
    private static final String CHART_JS_RESOURCE = "/META-INF/resources" + CHART_JS;

    private UsagePage() {
    }

    static byte[] html() {
        return resource("usage.html");
    }

    static byte[] chartJs() {
        return resource(CHART_JS_RESOURCE);
    }

    private static byte[] resource(String name) {
        try (InputStream in = UsagePage.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException(name + " is missing from the aggregator's class path");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
