package dev.tokentap.testkit.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.http.Context;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.ee10.servlet.ServletContextRequest;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OpenAI-compatible server that answers with vLLM's exact wire shapes, deterministic token counts
 * ({@link SimTokenizer}) and configurable timing: first chunk after {@code ttft}, then one every {@code itl}.
 *
 * <p>Routes: {@code GET /health}, {@code GET /v1/models}, {@code POST /v1/completions} and
 * {@code POST /v1/chat/completions}, streaming or not; the Responses API ({@code POST /v1/responses}, JSON or
 * stream, and {@code GET /v1/responses/{id}}); embeddings, pooling, classify, score and rerank; audio
 * transcriptions and translations (multipart, JSON or stream); {@code /invocations}; and {@code /tokenize},
 * {@code /detokenize}, {@code /ping}, {@code /version}, {@code /load}. It echoes {@code X-Request-Id}, and like vLLM builds the
 * response id from it ({@code chatcmpl-<X-Request-Id>}) when given. It records every request it receives
 * ({@link #received()}) and the completion tokens it actually wrote per response id ({@link #tokensServed}).
 *
 * <p>For tests it injects faults on request ({@link #FAIL_AFTER_HEADER} and the other {@code X-Sim-} headers), and
 * {@link Builder#stepByStep} lets a test decide when each step of an answer is sent ({@link #release}).
 */
public final class VllmSimulator implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(VllmSimulator.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final String REQUEST_ID = "X-Request-Id";
    /**
     * Test hook: a stream whose request carries this header dies after that many token steps, the connection cut
     * without {@code [DONE]}, as when the engine process crashes.
     */
    public static final String FAIL_AFTER_HEADER = "X-Sim-Fail-After";
    /**
     * Test hook: a stream whose request carries this header sends vLLM's error event after that many token steps,
     * then {@code [DONE]}, as when the engine fails a request mid-generation after the 200 went out.
     */
    public static final String ERROR_AFTER_HEADER = "X-Sim-Error-After";
    /**
     * Test hook: a stream whose request carries this header sends {@link #GARBAGE} before the events of that token
     * step, then goes on as usual, as a broken or hostile upstream might.
     */
    public static final String GARBAGE_AFTER_HEADER = "X-Sim-Garbage-After";
    /** What {@link #GARBAGE_AFTER_HEADER} sends: a line that is no field, broken JSON, an unknown event, a comment. */
    public static final String GARBAGE = "this is not an event\n\ndata: {\"id\": \"cmpl-broken\", \"choices\": [\n\n"
            + "event: surprise\ndata: [1, 2\n\n: a comment\n\ndata: \n\n";
    /** Test hook: errors of a request carrying this header come in vLLM's older flat format. */
    public static final String LEGACY_ERRORS_HEADER = "X-Sim-Legacy-Errors";
    /** A path vLLM does not serve that answers with a usage object, to test how unknown routes are metered. */
    public static final String UNKNOWN_ROUTE_WITH_USAGE = "/v1/sim/future-endpoint";
    private static final String JSON = "application/json";
    private static final String EVENT_STREAM = "text/event-stream; charset=utf-8";
    private static final int TOKENS_SERVED_LIMIT = 10_000;

    private final String host;
    private final int requestedPort;
    private final Duration ttft;
    private final Duration itl;
    private final List<String> models;
    private final int maxModelLen;
    private final int cachedTokens;
    private final boolean legacyErrors;
    private final VllmProfile profile;
    private final int recordLimit;
    private final int streamThreads;
    private final boolean stepByStep;
    private final StepGates gates = new StepGates(TOKENS_SERVED_LIMIT);

    private final Deque<ReceivedRequest> received = new ArrayDeque<>();
    private final Map<String, Integer> tokensServed = new LinkedHashMap<>(16, 0.75f, false) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Integer> eldest) {
            return size() > TOKENS_SERVED_LIMIT;
        }
    };

    private final Map<String, ObjectNode> storedResponses = new LinkedHashMap<>(16, 0.75f, false) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, ObjectNode> eldest) {
            return size() > TOKENS_SERVED_LIMIT;
        }
    };

    private Javalin app;
    private volatile ScheduledExecutorService scheduler;
    private long created;

    private VllmSimulator(Builder builder) {
        this.host = builder.host;
        this.requestedPort = builder.port;
        this.ttft = builder.ttft;
        this.itl = builder.itl;
        this.models = List.copyOf(builder.models);
        this.maxModelLen = builder.maxModelLen;
        this.cachedTokens = builder.cachedTokens;
        this.legacyErrors = builder.legacyErrors;
        this.profile = builder.profile;
        this.recordLimit = builder.recordLimit;
        this.streamThreads = builder.streamThreads;
        this.stepByStep = builder.stepByStep;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Starts a simulator with the default models and everything else default. */
    public static VllmSimulator start(String host, int port, Duration ttft, Duration itl) {
        return builder().host(host).port(port).ttft(ttft).itl(itl).build().start();
    }

    public synchronized VllmSimulator start() {
        if (app != null) {
            return this;
        }
        // Streams are paced by a small scheduled pool rather than a thread per stream: a stream holds no thread
        // between its chunks, so a few threads pace hundreds of concurrent streams. Each chunk is a blocking
        // write+flush on the async servlet stream; chunks are a few hundred bytes that the socket buffer takes at
        // once, and a reader that stalls for good only holds one pool thread until Jetty's idle timeout fails it.
        AtomicInteger threadNumber = new AtomicInteger();
        scheduler = Executors.newScheduledThreadPool(streamThreads, runnable -> {
            Thread thread = new Thread(runnable, "vllm-sim-stream-" + threadNumber.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        });
        created = Instant.now().getEpochSecond();
        // Javalin's default pool, named so that a thread dump (or a test) tells the simulator's threads apart
        QueuedThreadPool httpThreads = new QueuedThreadPool(250, 8);
        httpThreads.setName("vllm-sim-http");
        app = Javalin.create(config -> {
            config.jetty.host = host;
            config.jetty.port = requestedPort;
            config.jetty.threadPool = httpThreads;
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            // vLLM does not compress, and compression would hold chunks back
            config.http.compressionStrategy = CompressionStrategy.NONE;
            // long prompts are fair game for a load test; vLLM itself takes far more than Javalin's 1 MB default
            config.http.maxRequestSize = 64L * 1024 * 1024;
            config.routes.before(this::record);
            config.routes.get("/health", ctx -> ctx.status(200));
            config.routes.get("/v1/models", ctx -> respond(ctx, 200, VllmResponses.models(models, created, maxModelLen)));
            config.routes.post(SimRequest.COMPLETIONS, ctx -> generate(ctx, SimRequest.COMPLETIONS));
            config.routes.post(SimRequest.CHAT_COMPLETIONS, ctx -> generate(ctx, SimRequest.CHAT_COMPLETIONS));
            config.routes.post(OtherRoutes.RESPONSES, this::responses);
            config.routes.get(OtherRoutes.RESPONSES + "/{id}", this::storedResponse);
            for (String route : List.of("/v1/embeddings", "/pooling", "/classify", "/score", "/v1/score",
                    "/rerank", "/v1/rerank", "/v2/rerank")) {
                config.routes.post(route, ctx -> pool(ctx, route, OtherRoutes.parse(ctx.bodyAsBytes())));
            }
            config.routes.post("/v1/audio/transcriptions", ctx -> audio(ctx, "trsc-"));
            config.routes.post("/v1/audio/translations", ctx -> audio(ctx, "trsl-"));
            config.routes.post("/invocations", this::invocations);
            config.routes.post("/tokenize", ctx -> respond(ctx, 200,
                    OtherRoutes.tokenize(OtherRoutes.parse(ctx.bodyAsBytes()), maxModelLen)));
            config.routes.post("/detokenize", ctx -> respond(ctx, 200,
                    OtherRoutes.detokenize(OtherRoutes.parse(ctx.bodyAsBytes()))));
            config.routes.get("/ping", ctx -> ctx.status(200));
            config.routes.post("/ping", ctx -> ctx.status(200));
            config.routes.get("/version", ctx -> ctx.status(200).contentType(JSON).result("{\"version\":\"0.11.0\"}"));
            config.routes.get("/load", ctx -> ctx.status(200).contentType(JSON).result("{\"server_load\":0}"));
            config.routes.exception(VllmError.class, this::answerError);
            // not a vLLM route: something a future vLLM might serve, with a usage object, for the "other" rule
            config.routes.post(UNKNOWN_ROUTE_WITH_USAGE, ctx -> respond(ctx, 200,
                    VllmResponses.usageOnly(OtherRoutes.tokens(OtherRoutes.parse(ctx.bodyAsBytes()).path("input")))));
            config.routes.exception(Exception.class, this::answerUnexpected);
        }).start();
        LOG.info("vllm simulator started url={} models={} ttftMs={} itlMs={}", baseUrl(), models, ttft.toMillis(), itl.toMillis());
        return this;
    }

    public synchronized void stop() {
        if (app == null) {
            return;
        }
        int port = app.port();
        // pacing stops first, so no chunk is written into a server that is being torn down
        scheduler.shutdownNow();
        app.stop();
        app = null;
        scheduler = null;
        LOG.info("vllm simulator stopped host={} port={}", host, port);
    }

    @Override
    public void close() {
        stop();
    }

    public synchronized boolean isRunning() {
        return app != null;
    }

    /** The port it listens on (the chosen one when built with port 0). */
    public synchronized int port() {
        if (app == null) {
            throw new IllegalStateException("the simulator is not running");
        }
        return app.port();
    }

    /** For example {@code http://127.0.0.1:41234}, without a trailing slash. */
    public String baseUrl() {
        String shown = host.contains(":") ? "[" + host + "]" : host;
        return "http://" + shown + ":" + port();
    }

    public List<String> models() {
        return models;
    }

    /** The requests received so far, oldest first, at most the record limit (the oldest are dropped). */
    public List<ReceivedRequest> received() {
        synchronized (received) {
            return List.copyOf(received);
        }
    }

    public void clearReceived() {
        synchronized (received) {
            received.clear();
        }
    }

    /**
     * Completion tokens written to the client for a response id so far (all choices); less than the usage when
     * the client went away mid-stream. Empty for an unknown id. The last {@value #TOKENS_SERVED_LIMIT} ids are kept.
     */
    public OptionalInt tokensServed(String responseId) {
        synchronized (tokensServed) {
            Integer tokens = tokensServed.get(responseId);
            return tokens == null ? OptionalInt.empty() : OptionalInt.of(tokens);
        }
    }

    /**
     * With {@link Builder#stepByStep}: lets the next step of a response go, a step of its stream or the whole of a
     * non-streamed answer; a release that comes before the request is kept for it. Not needed otherwise.
     */
    public void release(String responseId) {
        release(responseId, 1);
    }

    /** As {@link #release(String)}, for that many steps. */
    public void release(String responseId, int steps) {
        gates.release(responseId, steps, this::runOnScheduler);
    }

    private void runOnScheduler(Runnable task) {
        ScheduledExecutorService pool = scheduler;
        try {
            if (pool != null) {
                pool.execute(task);
            }
        } catch (RejectedExecutionException e) {
            // the simulator is stopping: the step is never written
        }
    }

    private void record(Context ctx) {
        HttpServletRequest request = ctx.req();
        Map<String, List<String>> headers = new LinkedHashMap<>();
        for (String name : Collections.list(request.getHeaderNames())) {
            headers.put(name, Collections.list(request.getHeaders(name)));
        }
        ReceivedRequest entry = new ReceivedRequest(request.getMethod(), ctx.path(), request.getQueryString(),
                headers, ctx.bodyAsBytes(), Instant.now());
        synchronized (received) {
            received.addLast(entry);
            while (received.size() > recordLimit) {
                received.removeFirst();
            }
        }
    }

    private void generate(Context ctx, String route) {
        generate(ctx, route, ctx.bodyAsBytes());
    }

    private void generate(Context ctx, String route, byte[] requestBody) {
        String requestId = ctx.header(REQUEST_ID);
        if (requestId != null) {
            ctx.header(REQUEST_ID, requestId);
        }
        SimRequest request = SimRequest.parse(route, requestBody, profile);
        String model = request.model() == null ? models.get(0) : request.model();
        if (!models.contains(model)) {
            throw VllmError.modelNotFound(model);
        }
        request.checkContextLength(maxModelLen);
        String id = (request.chat() ? "chatcmpl-" : "cmpl-") + (requestId != null ? requestId : Ids.hex());
        long createdAt = Instant.now().getEpochSecond();
        SimUsage usage = request.usage(cachedTokens);
        LOG.debug("vllm simulator generating id={} route={} stream={} promptTokens={} completionTokens={}",
                id, route, request.stream(), usage.promptTokens(), usage.completionTokens());
        if (request.stream() && request.beamSearch() && !request.chat() && profile == VllmProfile.CURRENT) {
            throw VllmError.badRequest("Streaming is not currently supported with beam search");
        }
        if (request.stream() && request.beamSearch() && !request.chat()) {
            // legacy vLLM does not stream a completions beam search: the whole response, usage included, in one
            // event, then [DONE]; a chat beam search streams as chunks in both generations
            ObjectNode whole = VllmResponses.completion(request, id, createdAt, model, usage);
            try {
                writeEvents(ctx, List.of("data: " + MAPPER.writeValueAsString(whole) + "\n\n", StreamScript.DONE));
            } catch (IOException e) {
                LOG.debug("vllm simulator client went away id={} error={}", id, e.toString());
            }
            served(id, usage.completionTokens());
        } else if (request.stream()) {
            stream(ctx, new StreamScript(request, id, createdAt, model, usage, profile), id, request.choices(),
                    intHeader(ctx, FAIL_AFTER_HEADER), intHeader(ctx, ERROR_AFTER_HEADER),
                    intHeader(ctx, GARBAGE_AFTER_HEADER));
        } else {
            ObjectNode body = request.chat()
                    ? VllmResponses.chatCompletion(request, id, createdAt, model, usage)
                    : VllmResponses.completion(request, id, createdAt, model, usage);
            respondAfterGeneration(ctx, request, body, id, usage.completionTokens());
        }
    }

    private String modelOf(String requested) {
        String model = requested == null || requested.isEmpty() ? models.get(0) : requested;
        if (!models.contains(model)) {
            throw VllmError.modelNotFound(model);
        }
        return model;
    }

    private String idPart(Context ctx) {
        String requestId = ctx.header(REQUEST_ID);
        if (requestId != null) {
            ctx.header(REQUEST_ID, requestId);
            return requestId;
        }
        return Ids.hex();
    }

    private void pool(Context ctx, String route, JsonNode request) {
        String id = idPart(ctx);
        String model = modelOf(request.path("model").isTextual() ? request.path("model").asText() : null);
        long createdAt = Instant.now().getEpochSecond();
        ObjectNode body = switch (route) {
            case "/v1/embeddings" -> OtherRoutes.embeddings(request, id, createdAt, model);
            case "/pooling" -> OtherRoutes.pooling(request, id, createdAt, model);
            case "/classify" -> OtherRoutes.classify(request, id, createdAt, model);
            case "/score", "/v1/score" -> OtherRoutes.score(request, id, createdAt, model);
            default -> OtherRoutes.rerank(request, id, model);
        };
        respond(ctx, 200, body);
    }

    private void invocations(Context ctx) {
        byte[] bytes = ctx.bodyAsBytes();
        JsonNode request = OtherRoutes.parse(bytes);
        String route = OtherRoutes.invocationRoute(request);
        if (route.equals(SimRequest.CHAT_COMPLETIONS) || route.equals(SimRequest.COMPLETIONS)) {
            generate(ctx, route, bytes);
        } else {
            pool(ctx, route, request);
        }
    }

    private void responses(Context ctx) throws IOException {
        JsonNode request = OtherRoutes.parse(ctx.bodyAsBytes());
        String id = "resp_" + idPart(ctx);
        String model = modelOf(request.path("model").isTextual() ? request.path("model").asText() : null);
        int input = OtherRoutes.responseInputTokens(request);
        int output = request.path("max_output_tokens").canConvertToInt()
                ? request.path("max_output_tokens").asInt() : SimTokenizer.DEFAULT_MAX_TOKENS;
        int cached = Math.min(cachedTokens, input);
        long createdAt = Instant.now().getEpochSecond();
        ObjectNode completed = OtherRoutes.response(id, createdAt, model, input, output, cached, true);
        synchronized (storedResponses) {
            storedResponses.put(id, completed);
        }
        if (request.path("stream").asBoolean(false)) {
            writeEvents(ctx, OtherRoutes.responseEvents(id, createdAt, model, input, output, cached));
        } else {
            respond(ctx, 200, completed);
        }
        served(id, output);
    }

    private void storedResponse(Context ctx) {
        ObjectNode stored;
        synchronized (storedResponses) {
            stored = storedResponses.get(ctx.pathParam("id"));
        }
        if (stored == null) {
            throw new VllmError(404, "NotFoundError", null, "Response with id '" + ctx.pathParam("id") + "' not found.");
        }
        respond(ctx, 200, stored);
    }

    private void audio(Context ctx, String idPrefix) throws IOException {
        // multipart/form-data, as OpenAI's clients send it: the file and form fields
        Map<String, byte[]> form = OtherRoutes.multipart(ctx.header("Content-Type"), ctx.bodyAsBytes());
        byte[] file = form.get("file");
        if (file == null) {
            throw VllmError.badRequest("file: Field required");
        }
        String model = modelOf(formText(form, "model"));
        String id = idPrefix + idPart(ctx);
        long size = file.length;
        if ("true".equalsIgnoreCase(formText(form, "stream"))) {
            writeEvents(ctx, OtherRoutes.transcriptionChunks(id, Instant.now().getEpochSecond(), model, size,
                    "true".equalsIgnoreCase(formText(form, "stream_include_usage"))));
        } else {
            respond(ctx, 200, OtherRoutes.transcription(size));
        }
    }

    private static String formText(Map<String, byte[]> form, String name) {
        byte[] value = form.get(name);
        return value == null ? null : new String(value, StandardCharsets.UTF_8);
    }

    /** Writes a whole event stream at once, each event flushed on its own (no pacing). */
    private static void writeEvents(Context ctx, List<String> events) throws IOException {
        ctx.status(200);
        ctx.contentType(EVENT_STREAM);
        ServletOutputStream out = ctx.res().getOutputStream();
        for (String event : events) {
            out.write(event.getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    /** A non-streamed answer comes when the whole generation would have finished: ttft + itl per further token. */
    private void respondAfterGeneration(Context ctx, SimRequest request, ObjectNode body, String id, int completionTokens) {
        long delayNanos = ttft.toNanos() + itl.toNanos() * (request.tokensPerChoice() - 1);
        if (delayNanos <= 0 && !stepByStep) {
            respond(ctx, 200, body);
            served(id, completionTokens);
            return;
        }
        ctx.future(() -> {
            Exchange exchange = Exchange.of(ctx.req(), () -> gates.forget(id));
            Runnable answer = () -> {
                if (!exchange.alive()) {
                    return;
                }
                try {
                    respond(ctx, 200, body);
                } catch (RuntimeException e) {
                    exchange.failed(id, 0, e);
                    return;
                }
                served(id, completionTokens);
                exchange.finish();
            };
            schedule(stepByStep ? () -> gates.whenReleased(id, answer) : answer, delayNanos, exchange);
            return exchange.done();
        });
    }

    private static int intHeader(Context ctx, String name) {
        String value = ctx.header(name);
        try {
            return value == null ? -1 : Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            throw VllmError.badRequest(name + " must be an integer");
        }
    }

    private void stream(Context ctx, StreamScript script, String id, int choices, int failAfter, int errorAfter,
                        int garbageAfter) {
        ctx.status(200);
        ctx.contentType(EVENT_STREAM);
        ctx.future(() -> {
            Exchange exchange = Exchange.of(ctx.req(), () -> gates.forget(id));
            StreamWriter writer = new StreamWriter(ctx.req(), ctx.res(), script, id, choices, exchange, failAfter,
                    errorAfter, garbageAfter);
            try {
                // headers go out now, as uvicorn sends them, so a client sees 200 before the first token
                ctx.res().flushBuffer();
            } catch (IOException e) {
                writer.clientGone(e);
                return exchange.done();
            }
            writer.scheduleNext();
            return exchange.done();
        });
    }

    private void schedule(Runnable task, long delayNanos, Exchange exchange) {
        ScheduledExecutorService pool = scheduler;
        try {
            if (pool != null) {
                pool.schedule(task, Math.max(0, delayNanos), TimeUnit.NANOSECONDS);
                return;
            }
        } catch (RejectedExecutionException e) {
            // falls through: the simulator is stopping
        }
        exchange.finish();
    }

    private void served(String id, int tokens) {
        synchronized (tokensServed) {
            tokensServed.merge(id, tokens, Integer::sum);
        }
    }

    private void answerError(VllmError error, Context ctx) {
        try {
            respond(ctx, error.status(), VllmResponses.error(error, legacyErrors || ctx.header(LEGACY_ERRORS_HEADER) != null));
        } catch (RuntimeException gone) {
            LOG.debug("vllm simulator could not answer an error, the request has ended error={} cause={}", error, gone.toString());
        }
    }

    /**
     * Never throws: when an exception handler throws on a request Jetty has already recycled, Javalin's own fallback
     * throws as well and Javalin queues the handler again, without end.
     */
    private void answerUnexpected(Exception error, Context ctx) {
        String path;
        try {
            path = ctx.path();
        } catch (RuntimeException gone) {
            LOG.debug("vllm simulator failed after the request ended error={}", error.toString());
            return;
        }
        LOG.warn("vllm simulator failed path={} error={}", path, error.toString());
        try {
            respond(ctx, 500, VllmResponses.error(new VllmError(500, "InternalServerError", null, error.toString()), legacyErrors));
        } catch (RuntimeException gone) {
            LOG.debug("vllm simulator could not answer, the request has ended path={} error={}", path, gone.toString());
        }
    }

    private static void respond(Context ctx, int status, ObjectNode body) {
        try {
            ctx.status(status).contentType(JSON).result(MAPPER.writeValueAsBytes(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a response", e);
        }
    }

    /** Writes one stream step by step on the scheduler, each event as its own write and flush. */
    private final class StreamWriter implements Runnable {
        private final HttpServletRequest request;
        private final HttpServletResponse response;
        private final StreamScript script;
        private final String id;
        private final int choices;
        private final Exchange exchange;
        private final int failAfter;
        private final int errorAfter;
        private final int garbageAfter;
        private final long startNanos = System.nanoTime();
        private int step;

        StreamWriter(HttpServletRequest request, HttpServletResponse response, StreamScript script, String id,
                     int choices, Exchange exchange, int failAfter, int errorAfter, int garbageAfter) {
            this.request = request;
            this.response = response;
            this.script = script;
            this.id = id;
            this.choices = choices;
            this.exchange = exchange;
            this.failAfter = failAfter;
            this.errorAfter = errorAfter;
            this.garbageAfter = garbageAfter;
        }

        void scheduleNext() {
            // paced from the start, not from the last write, so slow writes do not stretch the whole stream
            long due = startNanos + ttft.toNanos() + itl.toNanos() * step;
            schedule(this, due - System.nanoTime(), exchange);
        }

        /** The step is due; step by step, it also waits for its release. */
        @Override
        public void run() {
            if (stepByStep) {
                gates.whenReleased(id, this::step);
            } else {
                step();
            }
        }

        private void step() {
            if (!exchange.alive()) {
                // Jetty ended the exchange between two steps (the client went away, an idle timeout)
                return;
            }
            if (step == failAfter) {
                // the engine died: no [DONE], the connection cut. Jetty recycles the request at once, so it is
                // let go first and never handed back to Javalin.
                exchange.abandon();
                ServletContextRequest.getServletContextRequest(request).getServletChannel()
                        .abort(new IOException("simulated engine death after " + step + " steps"));
                return;
            }
            try {
                ServletOutputStream out = response.getOutputStream();
                if (step == errorAfter) {
                    out.write(script.errorEvent(legacyErrors).getBytes(StandardCharsets.UTF_8));
                    out.write(StreamScript.DONE.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    exchange.finish();
                    return;
                }
                if (step == garbageAfter) {
                    out.write(GARBAGE.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
                for (String frame : script.step(step)) {
                    out.write(frame.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            } catch (IOException e) {
                clientGone(e);
                return;
            } catch (RuntimeException e) {
                exchange.failed(id, step, e);
                return;
            }
            served(id, choices);
            step++;
            if (step < script.steps()) {
                scheduleNext();
            } else {
                exchange.finish();
            }
        }

        void clientGone(IOException e) {
            // a failed write leaves the request to its owner: Javalin completes it and Jetty then drops the connection
            LOG.debug("vllm simulator client went away id={} step={} error={}", id, step, e.toString());
            exchange.finish();
        }
    }

    /**
     * A request answered later, from the scheduler, and whether it is still the simulator's to answer. Once Jetty has
     * ended an exchange (the simulator cut it, or Jetty failed it) it recycles the request, and neither the simulator
     * nor Javalin may touch it again: Javalin, resumed on a recycled request, throws from its error handling and
     * retries without end. So the request goes back to Javalin ({@link #finish}) only while it is alive, and one that
     * Jetty has ended is let go ({@link #abandon}), its future dropped with it.
     */
    private static final class Exchange implements AsyncListener {
        private final HttpServletRequest request;
        private final Runnable whenOver;
        private final CompletableFuture<Void> done = new CompletableFuture<>();
        private final AtomicBoolean over = new AtomicBoolean();

        private Exchange(HttpServletRequest request, Runnable whenOver) {
            this.request = request;
            this.whenOver = whenOver;
        }

        /**
         * Called inside Javalin's future supplier, where the request is already asynchronous; {@code whenOver} runs
         * once the exchange is over, however it ended.
         */
        static Exchange of(HttpServletRequest request, Runnable whenOver) {
            Exchange exchange = new Exchange(request, whenOver);
            request.getAsyncContext().addListener(exchange);
            return exchange;
        }

        CompletableFuture<Void> done() {
            return done;
        }

        boolean alive() {
            return !over.get();
        }

        /** Hands the request back to Javalin, which completes the response; once, and only while it is alive. */
        void finish() {
            if (over.compareAndSet(false, true)) {
                whenOver.run();
                done.complete(null);
            }
        }

        /** The exchange is ended outside Javalin: the request is never handed back. */
        void abandon() {
            if (over.compareAndSet(false, true)) {
                whenOver.run();
            }
        }

        /**
         * Something threw while answering. On a recycled request that is expected (Jetty ended it between two
         * steps without telling); on a live one it is a fault of the simulator, and the request still goes back to
         * Javalin so the client is not left waiting.
         */
        void failed(String id, int step, RuntimeException e) {
            boolean recycled;
            try {
                request.getRequestURI();
                recycled = false;
            } catch (RuntimeException gone) {
                recycled = true;
            }
            if (recycled) {
                LOG.debug("vllm simulator request ended under it id={} step={} error={}", id, step, e.toString());
                abandon();
            } else {
                LOG.warn("vllm simulator answer failed id={} step={} error={}", id, step, e.toString());
                finish();
            }
        }

        @Override
        public void onError(AsyncEvent event) {
            // Jetty failed the exchange (the client went away, an idle timeout) while the request is still alive:
            // Javalin completes it now, as the servlet contract asks of an error listener
            finish();
        }

        @Override
        public void onComplete(AsyncEvent event) {
            abandon();
        }

        @Override
        public void onTimeout(AsyncEvent event) {
            // Javalin's own listener answers timeouts
        }

        @Override
        public void onStartAsync(AsyncEvent event) {
            // not restarted
        }
    }

    /** Settings for a {@link VllmSimulator}; the defaults answer at once on a free loopback port. */
    public static final class Builder {
        private String host = "127.0.0.1";
        private int port;
        private Duration ttft = Duration.ZERO;
        private Duration itl = Duration.ZERO;
        private List<String> models = List.of("tokentap/sim-1b");
        private int maxModelLen = 4096;
        private int cachedTokens;
        private boolean legacyErrors;
        private VllmProfile profile = VllmProfile.CURRENT;
        private int recordLimit = 1000;
        private int streamThreads = Math.max(4, 2 * Runtime.getRuntime().availableProcessors());
        private boolean stepByStep;

        private Builder() {
        }

        public Builder host(String host) {
            this.host = Objects.requireNonNull(host, "host");
            return this;
        }

        /** 0, the default, picks a free port; {@link VllmSimulator#port()} tells which. */
        public Builder port(int port) {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port must be 0..65535, got " + port);
            }
            this.port = port;
            return this;
        }

        /** Time to first token: the delay before the first streamed chunk. */
        public Builder ttft(Duration ttft) {
            this.ttft = nonNegative(ttft, "ttft");
            return this;
        }

        /** Inter-token latency: the delay between streamed chunks. */
        public Builder itl(Duration itl) {
            this.itl = nonNegative(itl, "itl");
            return this;
        }

        /** The served model names; the first answers requests that name no model. */
        public Builder models(List<String> models) {
            if (models.isEmpty()) {
                throw new IllegalArgumentException("at least one model is needed");
            }
            this.models = new ArrayList<>(models);
            return this;
        }

        public Builder maxModelLen(int maxModelLen) {
            if (maxModelLen < 2) {
                throw new IllegalArgumentException("maxModelLen must be at least 2, got " + maxModelLen);
            }
            this.maxModelLen = maxModelLen;
            return this;
        }

        /** Report this many prompt tokens (at most the prompt) as cached in {@code prompt_tokens_details}; 0 reports null. */
        public Builder cachedTokens(int cachedTokens) {
            if (cachedTokens < 0) {
                throw new IllegalArgumentException("cachedTokens must not be negative, got " + cachedTokens);
            }
            this.cachedTokens = cachedTokens;
            return this;
        }

        /** Answer errors in the flat format of vLLM before 0.10.1: {@code {"object":"error","message":…}}. */
        public Builder legacyErrors(boolean legacyErrors) {
            this.legacyErrors = legacyErrors;
            return this;
        }

        /** Which generation of vLLM to answer as (default {@link VllmProfile#CURRENT}). */
        public Builder vllmProfile(VllmProfile profile) {
            this.profile = Objects.requireNonNull(profile, "profile");
            return this;
        }

        /** How many received requests {@link VllmSimulator#received()} keeps. */
        public Builder recordLimit(int recordLimit) {
            if (recordLimit < 0) {
                throw new IllegalArgumentException("recordLimit must not be negative, got " + recordLimit);
            }
            this.recordLimit = recordLimit;
            return this;
        }

        /** Threads that pace and write streams. */
        public Builder streamThreads(int streamThreads) {
            if (streamThreads < 1) {
                throw new IllegalArgumentException("streamThreads must be at least 1, got " + streamThreads);
            }
            this.streamThreads = streamThreads;
            return this;
        }

        /**
         * Test hook: each step of a chat or completion answer (a token step of a stream, the whole of a non-streamed
         * answer) waits, besides its due time, for {@link VllmSimulator#release}. A test then knows what the upstream
         * has sent so far without reading a clock: a stream's headers go out at once and its next event only when
         * released; never released, the upstream stays silent.
         */
        public Builder stepByStep(boolean stepByStep) {
            this.stepByStep = stepByStep;
            return this;
        }

        public VllmSimulator build() {
            return new VllmSimulator(this);
        }

        private static Duration nonNegative(Duration duration, String name) {
            if (Objects.requireNonNull(duration, name).isNegative()) {
                throw new IllegalArgumentException(name + " must not be negative, got " + duration);
            }
            return duration;
        }
    }
}
