package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** A failing spool shows on /readyz and /metrics, without taking the proxy out of service. */
class ReadinessIT {

    @Test
    void shouldStayReadyButSayDegradedWhileTheSpoolFails() {
        AtomicReference<ProxyMetrics> metrics = new AtomicReference<>();
        TapProxy proxy = TapProxy.start(ProxyConfigs.loopback("http://127.0.0.1:9", "--proxy-host", "ready-it",
                        "--api-key-hash-secret", "x"),
                new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), m -> {
                    metrics.set(m);
                    return new RecordingPublisher();
                });
        try {
            String admin = "http://127.0.0.1:" + proxy.adminPort();
            assertThat(Http.get(admin + "/readyz").body()).isEqualTo("ready");

            // when the publisher reports its spool failing
            metrics.get().spoolDegraded(true);

            // then the probe still passes, and both it and the gauge say what is wrong
            HttpResponse<String> ready = Http.get(admin + "/readyz");
            assertThat(ready.statusCode()).isEqualTo(200);
            assertThat(ready.body()).startsWith("ready, degraded");
            assertThat(Http.get(admin + "/metrics").body()).contains("tokentap_proxy_spool_degraded 1.0");

            metrics.get().spoolDegraded(false);
            assertThat(Http.get(admin + "/readyz").body()).isEqualTo("ready");
        } finally {
            proxy.close();
        }
    }
}
