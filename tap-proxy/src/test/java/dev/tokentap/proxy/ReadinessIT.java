package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.proxy.publish.PublisherHealth;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** A failing spool shows on /readyz and /metrics, without taking the proxy out of service. */
class ReadinessIT {

    @Test
    void shouldStayReadyButSayDegradedWhileTheSpoolFails() {
        RecordingPublisher publisher = new RecordingPublisher();
        TapProxy proxy = TapProxy.start(ProxyConfigs.loopback("http://127.0.0.1:9", "--proxy-host", "ready-it",
                        "--api-key-hash-secret", "x"),
                new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), metrics -> publisher);
        try {
            String admin = "http://127.0.0.1:" + proxy.adminPort();
            assertThat(Http.get(admin + "/readyz").body()).isEqualTo("ready");

            // when the publisher reports its spool failing
            publisher.health(PublisherHealth.degraded("usage spool cannot be written, events held in memory"));

            // then the probe still passes, and both it and the gauge say what is wrong
            HttpResponse<String> ready = Http.get(admin + "/readyz");
            assertThat(ready.statusCode()).isEqualTo(200);
            assertThat(ready.body()).isEqualTo("ready, degraded: usage spool cannot be written, events held in memory");
            assertThat(Http.get(admin + "/metrics").body()).contains("tokentap_proxy_spool_degraded 1.0");

            publisher.health(PublisherHealth.HEALTHY);
            assertThat(Http.get(admin + "/readyz").body()).isEqualTo("ready");
            assertThat(Http.get(admin + "/metrics").body()).contains("tokentap_proxy_spool_degraded 0.0");
        } finally {
            proxy.close();
        }
    }
}
