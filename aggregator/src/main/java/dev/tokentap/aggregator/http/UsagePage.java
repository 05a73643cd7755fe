package dev.tokentap.aggregator.http;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** The usage page served at {@code /}: one HTML file with its script, drawing with Chart.js from its webjar. */
final class UsagePage {

    /** Where Javalin serves the Chart.js webjar; the page loads it from here. */
    static final String CHART_JS = "/webjars/chart.js/4.4.1/dist/chart.umd.js";

    private UsagePage() {
    }

    static byte[] html() {
        try (InputStream in = UsagePage.class.getResourceAsStream("usage.html")) {
            if (in == null) {
                throw new IllegalStateException("usage.html is missing from the aggregator's jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
