package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** With an admin token, /metrics answers only those who bear it; the probes stay open. */
class AdminTokenIT {

    @Test
    void shouldServeMetricsOnlyWithTheTokenAndProbesWithout(@TempDir Path dir) throws Exception {
        Path tokenFile = Files.writeString(dir.resolve("token"), "admin-s3cret\n");
        TapProxy proxy = TapProxy.start(ProxyConfigs.loopback("http://127.0.0.1:9", "--admin-listen", "127.0.0.1",
                "--proxy-host", "admin-it", "--api-key-hash-secret", "x", "--admin-token-file", tokenFile.toString()),
                new RecordingPublisher(), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
        try {
            String admin = "http://127.0.0.1:" + proxy.adminPort();

            assertThat(get(admin + "/metrics", null).statusCode()).isEqualTo(401);
            assertThat(get(admin + "/metrics", "Bearer admin-s3cre").statusCode()).isEqualTo(401);
            HttpResponse<String> metrics = get(admin + "/metrics", "Bearer admin-s3cret");
            assertThat(metrics.statusCode()).isEqualTo(200);
            assertThat(metrics.body()).contains("tokentap_proxy_requests_total");
            assertThat(get(admin + "/healthz", null).statusCode()).isEqualTo(200);
            assertThat(get(admin + "/readyz", null).statusCode()).isEqualTo(200);
        } finally {
            proxy.close();
        }
    }

    private static HttpResponse<String> get(String url, String authorization) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url));
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return Http.CLIENT.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }
}
