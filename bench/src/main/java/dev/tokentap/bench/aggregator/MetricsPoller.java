package dev.tokentap.bench.aggregator;

import dev.tokentap.testkit.metrics.PrometheusText;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** Scrapes the aggregator's {@code /metrics} over HTTP, as Prometheus does, and notes how long each scrape took. */
final class MetricsPoller {

    /** One scrape: what it read, when it was asked for and when the answer had arrived. */
    record Scrape(PrometheusText metrics, long sentNanos, long answeredNanos) {
        UsageTally usage() {
            return UsageTally.of(metrics);
        }

        long counter(String name) {
            return metrics.samples(name).stream().mapToLong(PrometheusText.Sample::longValue).sum();
        }
    }

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final HttpRequest request;
    private long scrapes;
    private long totalNanos;
    private long maxNanos;

    MetricsPoller(int port) {
        request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(10))
                .build();
    }

    Scrape scrape() throws IOException, InterruptedException {
        long sent = System.nanoTime();
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        long answered = System.nanoTime();
        if (response.statusCode() != 200) {
            throw new IOException("GET /metrics answered " + response.statusCode());
        }
        synchronized (this) {
            scrapes++;
            totalNanos += answered - sent;
            maxNanos = Math.max(maxNanos, answered - sent);
        }
        return new Scrape(PrometheusText.parse(response.body()), sent, answered);
    }

    /** Mean and longest scrape so far, in milliseconds, and resets both. */
    synchronized double[] takeScrapeMillis() {
        double[] millis = {scrapes == 0 ? 0 : totalNanos / 1e6 / scrapes, maxNanos / 1e6};
        scrapes = 0;
        totalNanos = 0;
        maxNanos = 0;
        return millis;
    }
}
