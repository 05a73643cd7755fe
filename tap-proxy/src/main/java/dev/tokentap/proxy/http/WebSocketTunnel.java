package dev.tokentap.proxy.http;

import com.fasterxml.uuid.Generators;
import com.fasterxml.uuid.impl.TimeBasedEpochGenerator;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.Routes;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.proxy.ProxyMetrics;
import dev.tokentap.proxy.publish.UsagePublisher;
import dev.tokentap.proxy.usage.ApiKeyHasher;
import dev.tokentap.proxy.usage.MeteredRoutes;
import dev.tokentap.proxy.usage.RealtimeUsage;
import dev.tokentap.proxy.usage.ResponseFacts;
import dev.tokentap.proxy.usage.TraceContext;
import java.net.ConnectException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.component.Graceful;
import org.eclipse.jetty.websocket.core.CloseStatus;
import org.eclipse.jetty.websocket.core.Configuration;
import org.eclipse.jetty.websocket.core.CoreSession;
import org.eclipse.jetty.websocket.core.Frame;
import org.eclipse.jetty.websocket.core.FrameHandler;
import org.eclipse.jetty.websocket.core.OpCode;
import org.eclipse.jetty.websocket.core.WebSocketComponents;
import org.eclipse.jetty.websocket.core.client.CoreClientUpgradeRequest;
import org.eclipse.jetty.websocket.core.client.WebSocketCoreClient;
import org.eclipse.jetty.websocket.core.exception.UpgradeException;
import org.eclipse.jetty.websocket.core.server.Handshaker;
import org.eclipse.jetty.websocket.core.server.WebSocketNegotiator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * WebSocket upgrades, vLLM's realtime API among them: an upgrade is answered only once the upstream has accepted the
 * same upgrade (so a refusal or an unreachable upstream reaches the client as an HTTP status), then frames pass both
 * ways as they come, through Jetty's core WebSocket on both sides, each one read from one side only after the one
 * before was written to the other. On {@code /v1/realtime} the text messages are read as they pass
 * ({@link RealtimeUsage}) and one usage event is published when the session ends. Every other request goes on to
 * the HTTP proxy behind this handler.
 */
public final class WebSocketTunnel extends Handler.Wrapper implements Graceful {

    private static final Logger LOG = LoggerFactory.getLogger(WebSocketTunnel.class);
    /**
     * Frames longer than this are passed on in pieces of at most this size (Jetty's auto-fragmenting), so a session
     * holds at most one such piece per direction, whatever size of message its peers send.
     */
    static final int MAX_FRAME_BYTES = 64 * 1024;
    /** Room for X-Forwarded-*, Via and a generated X-Request-Id on top of the largest head a client may send. */
    private static final int FORWARDING_HEADROOM = 4_096;
    private static final TimeBasedEpochGenerator UUID_V7 = Generators.timeBasedEpochGenerator();
    /** Request headers not passed upstream: the hop's own, and the handshake's, which the upstream hop makes anew. */
    private static final Set<String> NOT_FORWARDED = Set.of("host", "connection", "keep-alive", "proxy-connection",
            "proxy-authorization", "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade",
            "content-length", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
            "sec-websocket-protocol", "sec-websocket-accept");

    private final Upstream upstream;
    private final ClientLimits limits;
    private final Metering metering;
    private final ApiKeyHasher apiKeys;
    private final UsagePublisher publisher;
    private final ProxyMetrics metrics;
    private final Handshaker handshaker = Handshaker.newInstance();
    private final Set<Tunnel> tunnels = ConcurrentHashMap.newKeySet();
    private final CompletableFuture<Void> drained = new CompletableFuture<>();
    private volatile boolean shuttingDown;
    /**
     * When the proxy starts closing the sessions still open ({@link System#nanoTime}); from then on a session that
     * ends, by the proxy's close or by the connectors stopping after it, ends because the proxy went away.
     */
    private volatile long cutAtNanos;
    private WebSocketComponents components;
    private WebSocketCoreClient client;

    public WebSocketTunnel(Upstream upstream, ClientLimits limits, Metering metering, ApiKeyHasher apiKeys,
                           UsagePublisher publisher, ProxyMetrics metrics) {
        this.upstream = upstream;
        this.limits = limits;
        this.metering = metering;
        this.apiKeys = apiKeys;
        this.publisher = publisher;
        this.metrics = metrics;
    }

    @Override
    protected void doStart() throws Exception {
        // the server's threads and buffers serve both sides: no pool of the tunnel's own
        Executor executor = getServer().getThreadPool();
        components = new WebSocketComponents(null, null, getServer().getByteBufferPool(), null, null, executor);
        HttpClient http = new HttpClient();
        http.setExecutor(executor);
        http.setConnectTimeout(upstream.connectTimeout().toMillis());
        // forward the client's User-Agent, or none, never Jetty's own
        http.setUserAgentField(null);
        http.setMaxRequestHeadersSize(limits.maxHeaderBytes() + FORWARDING_HEADROOM);
        client = new WebSocketCoreClient(http, components);
        addBean(client, true);
        super.doStart();
    }

    /**
     * Jetty's graceful stop waits, up to the drain timeout, for this future and for open connections to close. A
     * session that ends meanwhile is published whole. Those still open a little before the drain ends are closed
     * by the proxy as going away (1001) on both sides, so that they end as the proxy ending them, not as connections
     * cut when the connectors stop.
     */
    @Override
    public CompletableFuture<Void> shutdown() {
        if (!shuttingDown) {
            shuttingDown = true;
            long drain = limits.drainTimeout().toMillis();
            long cutAfter = Math.max(0, drain - Math.min(1_000, drain / 10));
            cutAtNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(cutAfter);
            getServer().getScheduler().schedule(() -> List.copyOf(tunnels).forEach(Tunnel::cut), cutAfter,
                    TimeUnit.MILLISECONDS);
            checkDrained();
        }
        return drained;
    }

    @Override
    public boolean isShutdown() {
        return shuttingDown;
    }

    private void checkDrained() {
        if (shuttingDown && tunnels.isEmpty()) {
            drained.complete(null);
        }
    }

    /** What no close reached by now is closed here, and its event published before the publisher closes. */
    @Override
    protected void doStop() throws Exception {
        for (Tunnel tunnel : List.copyOf(tunnels)) {
            tunnel.cut();
            tunnel.finish();
        }
        super.doStop();
        removeBean(client);
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        if (!handshaker.isWebSocketUpgradeRequest(request)) {
            return super.handle(request, response, callback);
        }
        String forwardPath = MeteredRoutes.forwardPath(request.getHttpURI().getPath());
        if (forwardPath == null) {
            error(response, callback, HttpStatus.BAD_REQUEST_400, OpenAiError.forStatus(HttpStatus.BAD_REQUEST_400));
            return true;
        }
        Tunnel tunnel = newTunnel(request, forwardPath);
        String query = request.getHttpURI().getQuery();
        URI target = URI.create(wsBase() + forwardPath + (query == null ? "" : "?" + query));
        CoreClientUpgradeRequest upgrade = CoreClientUpgradeRequest.from(client, target, tunnel.upstreamSide);
        upgrade.headers(headers -> forwardHeaders(request, tunnel, headers));
        List<String> offered = request.getHeaders().getCSV(HttpHeader.SEC_WEBSOCKET_SUBPROTOCOL, true);
        if (!offered.isEmpty()) {
            upgrade.setSubProtocols(offered);
        }
        upgrade.timeout(upstream.timeout().toMillis(), TimeUnit.MILLISECONDS);
        upgrade.setConfiguration(configuration(upstream.timeout().toMillis()));
        tunnels.add(tunnel);
        client.connect(upgrade).whenComplete((upstreamSession, failure) -> {
            if (failure != null) {
                refused(tunnel, response, callback, failure);
            } else {
                accept(tunnel, upstreamSession, request, response, callback);
            }
        });
        return true;
    }

    private String wsBase() {
        String base = upstream.base();
        return base.regionMatches(true, 0, "https", 0, 5) ? "wss" + base.substring(5) : "ws" + base.substring(4);
    }

    private static Configuration.ConfigurationCustomizer configuration(long idleTimeoutMs) {
        Configuration.ConfigurationCustomizer configuration = new Configuration.ConfigurationCustomizer();
        configuration.setIdleTimeout(java.time.Duration.ofMillis(idleTimeoutMs));
        configuration.setAutoFragment(true);
        configuration.setMaxFrameSize(MAX_FRAME_BYTES);
        return configuration;
    }

    private Tunnel newTunnel(Request request, String forwardPath) {
        String route = Routes.REALTIME.equals(MeteredRoutes.normalise(forwardPath)) ? Routes.REALTIME : null;
        HttpFields headers = request.getHeaders();
        String requestId = headers.get("X-Request-Id");
        boolean generated = requestId == null || requestId.isBlank();
        if (generated) {
            requestId = UUID.randomUUID().toString();
        }
        return new Tunnel(route, UUID_V7.generate().toString(), System.currentTimeMillis(), requestId, generated,
                TraceContext.parse(headers.get("traceparent")), clientAddress(request),
                apiKeys.idForAuthorization(headers.get(HttpHeader.AUTHORIZATION)), tenant(request));
    }

    private String clientAddress(Request request) {
        String address = Request.getRemoteAddr(request);
        if (address != null && address.length() > 2 && address.charAt(0) == '[') {
            address = address.substring(1, address.length() - 1);
        }
        TrustedProxies trusted = metering.trustedProxies();
        if (trusted.isEmpty()) {
            return address;
        }
        return trusted.clientAddress(address, request.getHeaders().getValuesList(HttpHeader.X_FORWARDED_FOR));
    }

    private String tenant(Request request) {
        if (metering.tenantHeader() == null || !metering.trustedProxies().trusts(Request.getRemoteAddr(request))) {
            return null;
        }
        return request.getHeaders().get(metering.tenantHeader());
    }

    /** The client's headers but the hop's own, plus what the HTTP proxy adds too: X-Forwarded-*, Via. */
    private void forwardHeaders(Request request, Tunnel tunnel, HttpFields.Mutable headers) {
        HttpFields in = request.getHeaders();
        List<String> connectionTokens = new ArrayList<>();
        for (String token : in.getCSV(HttpHeader.CONNECTION, false)) {
            connectionTokens.add(token.toLowerCase(Locale.ROOT));
        }
        for (HttpField field : in) {
            String name = field.getLowerCaseName();
            if (!NOT_FORWARDED.contains(name) && !connectionTokens.contains(name)) {
                headers.add(field);
            }
        }
        if (tunnel.requestIdGenerated) {
            headers.put("X-Request-Id", tunnel.requestId);
        }
        headers.add(HttpHeader.X_FORWARDED_FOR, Request.getRemoteAddr(request));
        headers.add(HttpHeader.X_FORWARDED_PROTO, request.isSecure() ? "https" : "http");
        String host = in.get(HttpHeader.HOST);
        if (host != null) {
            headers.add(HttpHeader.X_FORWARDED_HOST, host);
        }
        headers.add(HttpHeader.VIA, "1.1 " + metering.proxyHost());
    }

    /** The upstream did not take the upgrade: the client gets its status, or 502/504, in OpenAI's error shape. */
    private void refused(Tunnel tunnel, Response response, Callback callback, Throwable failure) {
        int upstreamStatus = -1;
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof UpgradeException upgrade && upgrade.getResponseStatusCode() > 0) {
                upstreamStatus = upgrade.getResponseStatusCode();
                break;
            }
        }
        int status;
        byte[] body;
        String outcome;
        if (upstreamStatus > 0) {
            // vLLM answered but not with 101 (no realtime model, a 401 of its --api-key, a 404)
            status = upstreamStatus >= 400 ? upstreamStatus : HttpStatus.BAD_GATEWAY_502;
            body = OpenAiError.body(status, "The upstream did not accept the WebSocket upgrade (status "
                    + upstreamStatus + ").", "UpstreamError");
            outcome = Outcome.UPSTREAM_ERROR;
        } else if (Exchange.isTimeout(failure)) {
            status = HttpStatus.GATEWAY_TIMEOUT_504;
            body = OpenAiError.forStatus(status);
            outcome = Outcome.UPSTREAM_TIMEOUT;
        } else {
            status = HttpStatus.BAD_GATEWAY_502;
            body = OpenAiError.forStatus(status);
            outcome = isConnectFailure(failure) ? Outcome.UPSTREAM_UNREACHABLE : Outcome.UPSTREAM_ERROR;
        }
        LOG.debug("upgrade refused upstream route={} status={}", tunnel.route, upstreamStatus, failure);
        tunnel.refused(status, outcome);
        error(response, callback, status, body);
        tunnel.finish();
    }

    private static boolean isConnectFailure(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ConnectException || t instanceof java.nio.channels.UnresolvedAddressException
                    || t instanceof java.net.UnknownHostException) {
                return true;
            }
        }
        return false;
    }

    private static void error(Response response, Callback callback, int status, byte[] body) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONNECTION, "close");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        if (status == HttpStatus.SERVICE_UNAVAILABLE_503) {
            response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
        }
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    /** The upstream took the upgrade: the client's is completed the same way, with the subprotocol it chose. */
    private void accept(Tunnel tunnel, CoreSession upstreamSession, Request request, Response response,
                        Callback callback) {
        tunnel.upstreamOpened(upstreamSession);
        String subprotocol = upstreamSession.getNegotiatedSubProtocol();
        WebSocketNegotiator negotiator = new WebSocketNegotiator() {
            @Override
            public FrameHandler negotiate(org.eclipse.jetty.websocket.core.server.ServerUpgradeRequest upgradeRequest,
                                          org.eclipse.jetty.websocket.core.server.ServerUpgradeResponse upgradeResponse,
                                          Callback ignored) {
                // no compression on this hop: each message is passed on as it came, and read without inflating
                upgradeResponse.setExtensions(List.of());
                if (subprotocol != null && !subprotocol.isEmpty()) {
                    upgradeResponse.setAcceptedSubProtocol(subprotocol);
                }
                return tunnel.clientSide;
            }

            @Override
            public void customize(Configuration configurable) {
                configuration(limits.idleTimeout().toMillis()).customize(configurable);
            }
        };
        boolean upgraded;
        try {
            upgraded = handshaker.upgradeRequest(negotiator, request, response, callback, components, null);
        } catch (RuntimeException e) {
            LOG.debug("client upgrade failed after the upstream's", e);
            upgraded = false;
        }
        if (!upgraded) {
            tunnel.refused(HttpStatus.BAD_REQUEST_400, Outcome.REJECTED);
            upstreamSession.close(CloseStatus.NORMAL, null, Callback.NOOP);
            if (!response.isCommitted()) {
                error(response, callback, HttpStatus.BAD_REQUEST_400, OpenAiError.body(400,
                        "The WebSocket upgrade request is not valid.", "BadRequestError"));
            }
            tunnel.finish();
        }
    }

    /** One WebSocket session through the proxy: its two sides, what was read from it, and how it ended. */
    private final class Tunnel {
        final String route;
        final String eventId;
        final long startedAt;
        final String requestId;
        final boolean requestIdGenerated;
        final TraceContext trace;
        final String clientAddress;
        final String apiKeyId;
        final String tenant;
        final RealtimeUsage usage;
        final FrameHandler clientSide = new Side(true);
        final FrameHandler upstreamSide = new Side(false);
        private final AtomicBoolean finished = new AtomicBoolean();
        private volatile CoreSession toClient;
        private volatile CoreSession toUpstream;
        private volatile long firstByteAt;
        private volatile int status = HttpStatus.SWITCHING_PROTOCOLS_101;
        /** Set by whatever ended the session first; null while it is open. */
        private volatile String outcome;
        private volatile boolean clientClosed;
        private volatile boolean upstreamClosed;

        Tunnel(String route, String eventId, long startedAt, String requestId, boolean requestIdGenerated,
               TraceContext trace, String clientAddress, String apiKeyId, String tenant) {
            this.route = route;
            this.eventId = eventId;
            this.startedAt = startedAt;
            this.requestId = requestId;
            this.requestIdGenerated = requestIdGenerated;
            this.trace = trace;
            this.clientAddress = clientAddress;
            this.apiKeyId = apiKeyId;
            this.tenant = tenant;
            this.usage = route != null ? new RealtimeUsage() : null;
        }

        void upstreamOpened(CoreSession session) {
            toUpstream = session;
        }

        void refused(int refusedStatus, String why) {
            status = refusedStatus;
            endedBy(why);
        }

        private void endedBy(String why) {
            if (outcome == null) {
                // on a busy machine the connectors may stop before the scheduled cut has run: the same going away
                outcome = shuttingDown && System.nanoTime() - cutAtNanos >= 0 ? Outcome.OK : why;
            }
        }

        /** Closes both sides as a server going away does: the proxy is stopping. */
        void cut() {
            endedBy(Outcome.OK);
            CoreSession c = toClient;
            CoreSession u = toUpstream;
            if (c != null) {
                c.close(CloseStatus.SHUTDOWN, "proxy shutting down", Callback.NOOP);
            }
            if (u != null) {
                u.close(CloseStatus.SHUTDOWN, "proxy shutting down", Callback.NOOP);
            }
        }

        void finish() {
            if (!finished.compareAndSet(false, true)) {
                return;
            }
            tunnels.remove(this);
            try {
                if (usage != null) {
                    usage.close();
                }
                publish();
            } finally {
                checkDrained();
            }
        }

        private void publish() {
            String ended = outcome == null ? Outcome.OK : outcome;
            if (route == null) {
                return;
            }
            metrics.request(route, ended);
            ResponseFacts.Usage counts = usage.usage();
            String source;
            if (counts == null) {
                source = UsageSource.NONE;
            } else if (counts.invalid()) {
                source = UsageSource.INVALID;
            } else {
                // a generation cut short sends no usage: the session's sum then misses its tokens
                source = usage.generationCut() ? UsageSource.PARTIAL : UsageSource.REPORTED;
            }
            UsageEvent.Builder event = UsageEvent.builder()
                    .eventId(eventId)
                    .requestId(requestId)
                    .responseId(usage.sessionId())
                    .traceId(trace == null ? null : trace.traceId())
                    .spanId(trace == null ? null : trace.spanId())
                    .startedAt(startedAt)
                    .firstByteAt(firstByteAt == 0 ? null : firstByteAt)
                    .endedAt(System.currentTimeMillis())
                    .method("GET")
                    .route(route)
                    .status(status)
                    .outcome(ended)
                    .model(usage.model())
                    .stream(true)
                    .usageSource(source)
                    .clientAddress(clientAddress)
                    .apiKeyId(apiKeyId)
                    .tenant(tenant)
                    .proxyHost(metering.proxyHost())
                    .upstream(WebSocketTunnel.this.upstream.authority());
            if (counts != null && !counts.invalid()) {
                event.promptTokens(counts.promptTokens())
                        .completionTokens(counts.completionTokens())
                        .completionTokensReported(true)
                        .totalTokens(counts.totalTokens())
                        .cachedTokens(counts.cachedTokens());
            }
            if (UsageSource.INVALID.equals(source)) {
                metrics.usageInvalid(route);
            } else if (UsageSource.NONE.equals(source) && usage.generationCut()) {
                // tokens were spent on a generation vLLM never reported: a session that only opened spent none
                metrics.usageMissing(route);
            }
            publisher.publish(event.build());
        }

        /** One side of the session: what it receives goes to the other side. */
        private final class Side implements FrameHandler {
            private final boolean fromClient;
            private CoreSession session;
            /** Whether the data frames now arriving continue a text message (continuations carry no type). */
            private boolean inText;

            Side(boolean fromClient) {
                this.fromClient = fromClient;
            }

            private CoreSession other() {
                return fromClient ? toUpstream : toClient;
            }

            @Override
            public void onOpen(CoreSession coreSession, Callback callback) {
                session = coreSession;
                if (fromClient) {
                    toClient = coreSession;
                    callback.succeeded();
                    if (upstreamClosed) {
                        // the upstream closed while the client's upgrade was being answered
                        coreSession.close(CloseStatus.BAD_GATEWAY, "upstream closed", Callback.NOOP);
                        return;
                    }
                    // both sides are open: frames may flow, each side read as the other takes what it sent
                    coreSession.demand();
                    toUpstream.demand();
                } else {
                    toUpstream = coreSession;
                    // the client side is not open yet: the upstream's frames wait for it (see the client's onOpen)
                    callback.succeeded();
                }
            }

            @Override
            public void onFrame(Frame frame, Callback callback) {
                byte opcode = frame.getOpCode();
                switch (opcode) {
                    case OpCode.TEXT, OpCode.BINARY, OpCode.CONTINUATION -> pass(frame, callback, opcode);
                    case OpCode.CLOSE -> {
                        CloseStatus status = CloseStatus.getCloseStatus(frame);
                        if (fromClient) {
                            endedBy(Outcome.OK);
                        } else {
                            endedBy(CloseStatus.isOrdinary(status.getCode()) || status.getCode() == CloseStatus.NO_CODE
                                    ? Outcome.OK : Outcome.UPSTREAM_ERROR);
                        }
                        // the close goes on to the other side; this side's is answered once it has
                        closeOther(status.getCode(), status.getReason(), callback);
                    }
                    default -> {
                        // pings are answered on each hop by Jetty itself; pongs end here
                        callback.succeeded();
                        session.demand();
                    }
                }
            }

            private void pass(Frame frame, Callback callback, byte opcode) {
                if (opcode != OpCode.CONTINUATION) {
                    inText = opcode == OpCode.TEXT;
                }
                if (!fromClient && firstByteAt == 0) {
                    firstByteAt = System.currentTimeMillis();
                }
                ByteBuffer payload = frame.hasPayload() ? frame.getPayload() : BufferUtil.EMPTY_BUFFER;
                if (usage != null && inText) {
                    if (fromClient) {
                        usage.clientText(payload.slice(), frame.isFin());
                    } else {
                        usage.serverText(payload.slice(), frame.isFin());
                    }
                }
                CoreSession to = other();
                to.sendFrame(new Frame(opcode, frame.isFin(), payload), Callback.from(() -> {
                    callback.succeeded();
                    session.demand();
                }, callback::failed), false);
            }

            private void closeOther(int code, String reason, Callback callback) {
                CoreSession to = other();
                int sent = CloseStatus.isTransmittableStatusCode(code) ? code : CloseStatus.NO_CODE;
                to.close(sent, reason, Callback.from(callback::succeeded, x -> callback.succeeded()));
            }

            @Override
            public void onError(Throwable cause, Callback callback) {
                if (fromClient) {
                    endedBy(Outcome.CLIENT_ABORTED);
                } else {
                    endedBy(Exchange.isTimeout(cause) ? Outcome.UPSTREAM_TIMEOUT : Outcome.UPSTREAM_ERROR);
                }
                LOG.debug("websocket side failed fromClient={}", fromClient, cause);
                callback.succeeded();
            }

            @Override
            public void onClosed(CloseStatus closeStatus, Callback callback) {
                int code = closeStatus.getCode();
                if (fromClient) {
                    clientClosed = true;
                    // a client gone without a close handshake is an abort; the upstream is told it went away
                    endedBy(code == CloseStatus.NO_CLOSE ? Outcome.CLIENT_ABORTED : Outcome.OK);
                    CoreSession u = toUpstream;
                    if (u != null && !upstreamClosed) {
                        u.close(CloseStatus.isTransmittableStatusCode(code) ? code : CloseStatus.SHUTDOWN,
                                closeStatus.getReason(), Callback.NOOP);
                    }
                } else {
                    upstreamClosed = true;
                    endedBy(CloseStatus.isOrdinary(code) || code == CloseStatus.NO_CODE ? Outcome.OK
                            : Outcome.UPSTREAM_ERROR);
                    CoreSession c = toClient;
                    if (c != null && !clientClosed) {
                        // a failed upstream is a bad gateway to the client; a closed one closes the same way
                        c.close(CloseStatus.isTransmittableStatusCode(code) ? code : CloseStatus.BAD_GATEWAY,
                                closeStatus.getReason(), Callback.NOOP);
                    }
                }
                callback.succeeded();
                if (clientClosed && upstreamClosed || toClient == null) {
                    finish();
                }
            }
        }
    }
}
