package dev.tokentap.aggregator.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tokentap.aggregator.AggregatorMetrics.Scrape;
import dev.tokentap.aggregator.topology.UsageLabels;
import dev.tokentap.aggregator.topology.UsageTotals;
import dev.tokentap.aggregator.usage.UsageQuery;
import dev.tokentap.aggregator.usage.UsageRanges;
import dev.tokentap.aggregator.usage.UsageRows;
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

/**
 * The aggregator's HTTP endpoints: {@code /metrics}, {@code /healthz}, {@code /readyz}, {@code /api/v1/usage} (all-time
 * totals of this replica, or with {@code from} and {@code to} the fleet's usage over a time range), and the usage page
 * at {@code /}.
 */
public final class AggregatorHttpServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(AggregatorHttpServer.class);
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(com.fasterxml.jackson.core.JsonGenerator.Feature.WRITE_BIGDECIMAL_AS_PLAIN).build();

    private final Javalin app;

    private AggregatorHttpServer(Javalin app) {
        this.app = app;
    }

    /**
     * Starts serving on the API's address (port 0 picks a free one). With a token, {@code /metrics} and
     * {@code /api/v1/usage} answer only requests bearing it (Prometheus sends it with
     * {@code authorization.credentials_file}), while the probes stay open. Range queries are not served.
     *
     * @param metrics the scrape to serve on {@code /metrics}, given the request's {@code Accept} header
     * @param usage   the local totals, empty while they can't be read
     * @param ready   what {@code /readyz} answers: Streams' readiness and whatever else the aggregator waits for,
     *                such as the pod directory's first sync
     */
    public static AggregatorHttpServer start(HttpApi api, Function<String, Scrape> metrics,
                                             Supplier<Optional<SortedMap<UsageLabels, UsageTotals>>> usage,
                                             StreamsHealth health, BooleanSupplier ready) {
        return start(api, metrics, usage, health, ready, null, java.time.Clock.systemUTC());
    }

    /**
     * As above, answering {@code /api/v1/usage?from=…&to=…} from {@code ranges} (null: not served) by
     * {@code clock}'s time, and serving the usage page at {@code /}.
     */
    public static AggregatorHttpServer start(HttpApi api, Function<String, Scrape> metrics,
                                             Supplier<Optional<SortedMap<UsageLabels, UsageTotals>>> usage,
                                             StreamsHealth health, BooleanSupplier ready, UsageRanges ranges,
                                             java.time.Clock clock) {
        String token = api.token() == null ? null : api.token().value();
        byte[] page = UsagePage.html();
        byte[] chartJs = UsagePage.chartJs();
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
            config.routes.get(UsagePage.CHART_JS, ctx -> ctx.contentType("text/javascript; charset=utf-8")
                    .header("Cache-Control", "max-age=31536000").result(chartJs));
            config.routes.get("/", ctx -> ctx.contentType("text/html; charset=utf-8").result(page));
            config.routes.get("/api/v1/usage/local", guard(token, ctx -> {
                if (ranges == null) {
                    ctx.status(HttpStatus.NOT_FOUND);
                    return;
                }
                range(ctx, ranges, clock, q -> ranges.local(q, partitions(ctx.queryParam("partitions"))));
            }));
            config.routes.get("/api/v1/usage", guard(token, ctx -> {
                if (ranges != null && (ctx.queryParam("from") != null || ctx.queryParam("to") != null)) {
                    range(ctx, ranges, clock, ranges::fleet);
                    return;
                }
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

    /** Answers a range query with {@code answer}: 400 for a bad query, 503 while it cannot be answered exactly. */
    private static void range(Context ctx, UsageRanges ranges, java.time.Clock clock,
                              Function<UsageQuery, UsageRows> answer) throws JsonProcessingException {
        UsageQuery query;
        try {
            Map<String, String> params = new LinkedHashMap<>();
            ctx.queryParamMap().forEach((name, values) -> params.put(name, values.isEmpty() ? null : values.get(0)));
            query = UsageQuery.parse(params, ranges.retention(), clock.millis());
        } catch (UsageQuery.BadQuery e) {
            ctx.status(HttpStatus.BAD_REQUEST);
            json(ctx, error(e.getMessage(), "invalid_request_error", e.param()));
            return;
        } catch (IllegalArgumentException e) {
            ctx.status(HttpStatus.BAD_REQUEST);
            json(ctx, error(e.getMessage(), "invalid_request_error", "partitions"));
            return;
        }
        try {
            ctx.contentType("application/json").result(answer.apply(query).toJson());
        } catch (UsageRanges.Unavailable e) {
            ctx.status(HttpStatus.SERVICE_UNAVAILABLE).header("Retry-After", "1");
            json(ctx, error(e.getMessage(), "unavailable", null));
        }
    }

    /** The OpenAI error shape. */
    static Map<String, Object> error(String message, String type, String param) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", message);
        error.put("type", type);
        error.put("param", param);
        error.put("code", null);
        return Map.of("error", error);
    }

    static java.util.Set<Integer> partitions(String text) {
        java.util.Set<Integer> parts = new java.util.TreeSet<>();
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("partitions is required: the store partitions to read, e.g. 0,2");
        }
        for (String part : text.split(",")) {
            try {
                int p = Integer.parseInt(part.trim());
                if (p < 0) {
                    throw new NumberFormatException();
                }
                parts.add(p);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("partitions must be partition numbers, e.g. 0,2; not '" + part
                        + "'");
            }
        }
        return parts;
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
            row.put("reasoning_tokens", t.reasoningTokens());
            row.put("audio_seconds", t.audioSeconds());
            Map<String, String> cost = new java.util.TreeMap<>();
            t.cost().amounts().forEach((currency, amount) -> cost.put(currency, dev.tokentap.event.Cost.plain(amount)));
            row.put("cost", cost);
            row.put("unpriced_requests", t.unpriced());
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
