package dev.tokentap.proxy.http;

import dev.tokentap.proxy.publish.PublisherHealth;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The admin port: {@code /metrics} for Prometheus, {@code /healthz} while the process serves, {@code /readyz} once
 * the proxy port listens. Kafka plays no part in readiness: traffic must flow whether or not it is reachable. Three
 * fixed routes on a bare Jetty server of its own, a handful of threads.
 */
public final class AdminServer {

    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
    private static final String TEXT = "text/plain; charset=utf-8";
    /** Scrapes and probes come one or two at a time. */
    private static final int MAX_THREADS = 8;
    private static final Duration THREAD_IDLE = Duration.ofSeconds(30);

    private final Server server;
    private final ServerConnector connector;

    private AdminServer(Server server, ServerConnector connector) {
        this.server = server;
        this.connector = connector;
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
        QueuedThreadPool threads = new QueuedThreadPool(MAX_THREADS, 2, (int) THREAD_IDLE.toMillis());
        threads.setName("tap-proxy-admin");
        Server server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        ServerConnector connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        connector.setHost(admin.listen());
        connector.setPort(admin.port());
        server.addConnector(connector);
        AdminAuth metricsAuth = new AdminAuth(token);
        server.setHandler(new Handler.Abstract.NonBlocking() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                String method = request.getMethod();
                if (!HttpMethod.GET.is(method) && !HttpMethod.HEAD.is(method)) {
                    answer(response, callback, HttpStatus.METHOD_NOT_ALLOWED_405, TEXT, "method not allowed");
                    return true;
                }
                switch (request.getHttpURI().getPath()) {
                    case "/metrics" -> {
                        if (metricsAuth.allows(request.getHeaders().get(HttpHeader.AUTHORIZATION))) {
                            answer(response, callback, HttpStatus.OK_200, PROMETHEUS_TEXT, registry.scrape());
                        } else {
                            response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
                            answer(response, callback, HttpStatus.UNAUTHORIZED_401, TEXT, "unauthorized");
                        }
                    }
                    case "/healthz" -> answer(response, callback, HttpStatus.OK_200, TEXT, "ok");
                    case "/readyz" -> {
                        boolean isReady = ready.getAsBoolean();
                        // a failing spool does not make the proxy unready: taking it out of service would stop
                        // traffic to its vLLM without saving a single event; the body and the gauge say it, for
                        // people and alerts
                        PublisherHealth publishing = health.get();
                        String body = !isReady ? "not ready"
                                : publishing.degraded() ? "ready, degraded: " + publishing.problem()
                                : "ready";
                        answer(response, callback, isReady ? HttpStatus.OK_200 : HttpStatus.SERVICE_UNAVAILABLE_503,
                                TEXT, body);
                    }
                    default -> answer(response, callback, HttpStatus.NOT_FOUND_404, TEXT, "not found");
                }
                return true;
            }
        });
        Servers.start(server, admin.listen(), admin.port(), "admin port");
        return new AdminServer(server, connector);
    }

    private static void answer(Response response, Callback callback, int status, String contentType, String body) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
        response.write(true, ByteBuffer.wrap(bytes), callback);
    }

    public int port() {
        return connector.getLocalPort();
    }

    public void stop() {
        try {
            server.stop();
        } catch (Exception e) {
            throw new IllegalStateException("the admin port did not stop cleanly", e);
        }
    }
}
