package dev.tokentap.proxy.http;

import dev.tokentap.proxy.publish.PublisherHealth;
import io.javalin.Javalin;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The admin port: {@code /metrics} for Prometheus, {@code /healthz} while the process serves, {@code /readyz} once
 * the proxy port listens. Kafka plays no part in readiness: traffic must flow whether or not it is reachable.
 */
public final class AdminServer {

    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    private final Javalin app;

    private AdminServer(Javalin app) {
        this.app = app;
    }

    /**
     * Starts the admin server; with a token, {@code /metrics} answers only requests bearing it, while
     * {@code /healthz} and {@code /readyz} stay open for probes (they reveal nothing). {@code /readyz} asks the
     * publisher's {@code health} on each call, and while it is degraded still answers 200 but says what is wrong:
     * the proxy serves, its usage events wait.
     *
     * @throws IllegalStateException when the port cannot be bound
     */
    public static AdminServer start(Admin admin, PrometheusMeterRegistry registry, BooleanSupplier ready,
                                    Supplier<PublisherHealth> health) {
        String token = admin.token() == null ? null : admin.token().value();
        Javalin app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.routes.get("/metrics", AdminAuth.guard(token,
                    ctx -> ctx.contentType(PROMETHEUS_TEXT).result(registry.scrape())));
            config.routes.get("/healthz", ctx -> ctx.contentType("text/plain").result("ok"));
            config.routes.get("/readyz", ctx -> {
                boolean isReady = ready.getAsBoolean();
                // a failing spool does not make the proxy unready: taking it out of service would stop traffic to
                // its vLLM without saving a single event; the body and the gauge say it, for people and alerts
                PublisherHealth publishing = health.get();
                String body = !isReady ? "not ready"
                        : publishing.degraded() ? "ready, degraded: " + publishing.problem()
                        : "ready";
                ctx.status(isReady ? 200 : 503).contentType("text/plain").result(body);
            });
        });
        Servers.start(app, admin.listen(), admin.port(), "admin port");
        return new AdminServer(app);
    }

    public int port() {
        return app.port();
    }

    public void stop() {
        app.stop();
    }
}
