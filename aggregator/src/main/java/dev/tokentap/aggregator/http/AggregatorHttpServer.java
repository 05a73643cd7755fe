package dev.tokentap.aggregator.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tokentap.aggregator.AggregatorMetrics.Scrape;
import dev.tokentap.aggregator.topology.UsageLabels;
import dev.tokentap.aggregator.topology.UsageTotals;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpStatus;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The aggregator's HTTP endpoints: {@code /metrics}, {@code /healthz}, {@code /readyz}, {@code /api/v1/usage}. */
public final class AggregatorHttpServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(AggregatorHttpServer.class);
    private static final ObjectMapper JSON = JsonMapper.builder().build();

    private final Javalin app;

    private AggregatorHttpServer(Javalin app) {
        this.app = app;
    }

    /**
     * Starts serving on the API's address (port 0 picks a free one). With a token, {@code /metrics} and
     * {@code /api/v1/usage} answer only requests bearing it (Prometheus sends it with
     * {@code authorization.credentials_file}), while the probes stay open.
     *
     * @param metrics the scrape to serve on {@code /metrics}, given the request's {@code Accept} header
     * @param usage   the local totals, empty while they can't be read
     * @param ready   what {@code /readyz} answers: Streams' readiness and whatever else the aggregator waits for,
     *                such as the pod directory's first sync
     */
    public static AggregatorHttpServer start(HttpApi api, Function<String, Scrape> metrics,
                                             Supplier<Optional<SortedMap<UsageLabels, UsageTotals>>> usage,
                                             StreamsHealth health, BooleanSupplier ready) {
        String token = api.token() == null ? null : api.token().value();
        Javalin app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.routes.get("/metrics", guard(token, ctx -> {
                Scrape scrape;
                try {
                    scrape = metrics.apply(ctx.header("Accept"));
                } catch (RuntimeException e) {
                    // a known state, not a crash: Prometheus marks the target down, and /readyz says the same
                    ctx.status(HttpStatus.SERVICE_UNAVAILABLE).contentType("text/plain").result(e.getMessage());
                    return;
                }
                ctx.contentType(scrape.contentType()).result(scrape.body());
            }));
            config.routes.get("/healthz", ctx -> probe(ctx, health.healthy(), health));
            config.routes.get("/readyz", ctx -> probe(ctx, ready.getAsBoolean(), health));
            config.routes.get("/api/v1/usage", guard(token, ctx -> {
                Optional<SortedMap<UsageLabels, UsageTotals>> totals;
                try {
                    totals = usage.get();
                } catch (RuntimeException e) {
                    ctx.status(HttpStatus.SERVICE_UNAVAILABLE);
                    json(ctx, Map.of("error", String.valueOf(e.getMessage())));
                    return;
                }
                usage(ctx, totals, health);
            }));
        });
        app.start(api.listen(), api.port());
        LOG.info("http listening host={} port={}", api.listen(), app.port());
        return new AggregatorHttpServer(app);
    }

    public int port() {
        return app.port();
    }

    @Override
    public void close() {
        app.stop();
    }

    private static void probe(Context ctx, boolean ok, StreamsHealth health) throws JsonProcessingException {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", ok ? "ok" : "unavailable");
        body.put("streams_state", health.state().name());
        ctx.status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
        json(ctx, body);
    }

    private static void usage(Context ctx, Optional<SortedMap<UsageLabels, UsageTotals>> totals,
                              StreamsHealth health) throws JsonProcessingException {
        if (totals.isEmpty()) {
            ctx.status(HttpStatus.SERVICE_UNAVAILABLE);
            json(ctx, Map.of("error", "usage totals not readable while streams is " + health.state()));
            return;
        }
        json(ctx, rows(totals.get()));
    }

    /** One JSON object per label set, in label order (the map is sorted), so the output is stable. */
    static List<Map<String, Object>> rows(SortedMap<UsageLabels, UsageTotals> totals) {
        List<Map<String, Object>> rows = new ArrayList<>(totals.size());
        totals.forEach((labels, t) -> {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("namespace", labels.namespace());
            row.put("client_name", labels.clientName());
            row.put("full_path", labels.fullPath());
            row.put("hostname", labels.hostname());
            row.put("model", labels.model());
            row.put("prompt_tokens", t.promptTokens());
            row.put("completion_tokens", t.completionTokens());
            row.put("total_tokens", t.totalTokens());
            row.put("cached_tokens", t.cachedTokens());
            row.put("requests", t.requests());
            rows.add(row);
        });
        return rows;
    }

    private static void json(Context ctx, Object body) throws JsonProcessingException {
        ctx.contentType("application/json").result(JSON.writeValueAsBytes(body));
    }

    /** {@code handler}, answering 401 to a request without {@code Authorization: Bearer <token>}; as is if no token. */
    static io.javalin.http.Handler guard(String token, io.javalin.http.Handler handler) {
        if (token == null) {
            return handler;
        }
        byte[] expected = ("Bearer " + token).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return ctx -> {
            String given = ctx.header("Authorization");
            // constant time, so the token cannot be guessed byte by byte from response times
            if (given == null || !java.security.MessageDigest.isEqual(expected,
                    given.getBytes(java.nio.charset.StandardCharsets.UTF_8))) {
                ctx.status(401).header("WWW-Authenticate", "Bearer").contentType("text/plain").result("unauthorized");
                return;
            }
            handler.handle(ctx);
        };
    }
}
