package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Broken and hostile requests: each gets a proper HTTP answer, the proxy goes on serving others, and a metered
 * request is still recorded with its outcome. The proxy only ever talks to its configured upstream.
 */
class HostileInputIT {

    private static final String COMPLETIONS = "/v1/completions";
    private static final int MAX_REQUEST_BYTES = 64 * 1024;
    /** Half Jetty's own default: the limit in force must be the configured one. */
    private static final int MAX_HEADER_BYTES = 4 * 1024;
    /** A loopback address the tests connect from to play the trusted load balancer. */
    private static final String TRUSTED_BALANCER = "127.0.0.2";
    private static final String TENANT_HEADER = "X-Tenant-Id";
    /** The address of the client that checks, after each case, that the proxy still serves. */
    private static final String OTHER_CLIENT = "127.0.0.3";

    private static VllmSimulator simulator;
    private static RecordingPublisher publisher;
    private static TapProxy proxy;
    private static String base;
    private static int counter;

    @BeforeAll
    static void start() {
        simulator = VllmSimulator.builder().host("127.0.0.1").port(0).build().start();
        publisher = new RecordingPublisher();
        proxy = TapProxy.start(ProxyConfigs.loopback(simulator.baseUrl(), "--proxy-host", "hostile-it",
                "--api-key-hash-secret", "x", "--max-request-bytes", Long.toString(MAX_REQUEST_BYTES),
                "--max-header-bytes", Long.toString(MAX_HEADER_BYTES), "--trusted-proxies", TRUSTED_BALANCER + "/32",
                "--tenant-header", TENANT_HEADER), publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
        base = "http://127.0.0.1:" + proxy.port();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        simulator.close();
    }

    /**
     * Another client, on its own connection from its own address: a connection the test's client keeps in its pool
     * may have been closed by the case just played, and reusing it would test the pool, not the proxy.
     */
    @AfterEach
    void proxyStillServesOthers() throws Exception {
        String body = "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"still there?\",\"max_tokens\":2}";
        String response = raw(OTHER_CLIENT, "POST " + COMPLETIONS + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\n\r\n"
                + body);
        assertThat(response).startsWith("HTTP/1.1 200");
    }

    @Test
    void shouldPassMalformedJsonToTheUpstreamAndRecordItsError() {
        assertUpstreamErrorRecorded("{\"model\": \"tokentap/sim-1b\", \"prompt\": ".getBytes(StandardCharsets.UTF_8),
                null);
    }

    @Test
    void shouldPassAJsonArrayBodyAndRecordItsError() {
        assertUpstreamErrorRecorded("[1,2,3]".getBytes(StandardCharsets.UTF_8), null);
    }

    @Test
    void shouldPassAScalarBodyAndRecordItsError() {
        assertUpstreamErrorRecorded("\"just a string\"".getBytes(StandardCharsets.UTF_8), null);
    }

    @Test
    void shouldPassInvalidUtf8AndRecordTheOutcome() {
        byte[] body = {'{', '"', 'm', 'o', 'd', 'e', 'l', '"', ':', '"', (byte) 0xc3, (byte) 0x28, '"', '}'};
        assertUpstreamErrorRecorded(body, null);
    }

    @Test
    void shouldPassAGzipEncodedBodyAndRecordTheOutcome() throws Exception {
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write("{\"model\":\"tokentap/sim-1b\",\"prompt\":\"zipped\",\"max_tokens\":2}"
                    .getBytes(StandardCharsets.UTF_8));
        }
        String id = nextId();
        HttpResponse<String> response = Http.send(HttpRequest.newBuilder(URI.create(base + COMPLETIONS))
                .header("Content-Type", "application/json").header("Content-Encoding", "gzip")
                .header("X-Request-Id", id)
                .POST(HttpRequest.BodyPublishers.ofByteArray(gz.toByteArray())));

        assertThat(response.statusCode()).isBetween(200, 599);
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        UsageEvent event = publisher.byRequestId(id).get(0);
        assertThat(event.status()).isEqualTo(response.statusCode());
        assertThat(event.outcome()).isEqualTo(response.statusCode() == 200 ? Outcome.OK : Outcome.UPSTREAM_ERROR);
    }

    @Test
    void shouldRefuseAbsurdlyLargeHeadersWithoutFallingOver() throws Exception {
        String response = raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + "a".repeat(64 * 1024)
                + "\r\nConnection: close\r\n\r\n");

        assertThat(response).startsWith("HTTP/1.1 431");
    }

    @Test
    void shouldAnswer431ToHeadersOverTheConfiguredLimit() throws Exception {
        String response = raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                + "a".repeat(MAX_HEADER_BYTES + 512) + "\r\nConnection: close\r\n\r\n");

        assertThat(response).startsWith("HTTP/1.1 431");
    }

    @Test
    void shouldServeHeadersJustUnderTheConfiguredLimit() throws Exception {
        String response = raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                + "a".repeat(MAX_HEADER_BYTES - 512) + "\r\nConnection: close\r\n\r\n");

        assertThat(response).startsWith("HTTP/1.1 200");
    }

    @Test
    void shouldSendAnAbsoluteFormTargetToItsUpstreamOnly() throws Exception {
        int before = simulator.received().size();
        String response = raw("GET http://example.invalid:81/v1/models HTTP/1.1\r\nHost: example.invalid:81\r\n"
                + "Connection: close\r\n\r\n");

        // either answered from the configured upstream, or refused; never fetched from the named host
        assertThat(response).startsWith("HTTP/1.1 ");
        if (response.startsWith("HTTP/1.1 200")) {
            assertThat(simulator.received().size()).isGreaterThan(before);
            assertThat(simulator.received().get(simulator.received().size() - 1).path()).isEqualTo("/v1/models");
        }
    }

    @Test
    void shouldForwardToItsUpstreamWhateverTheHostHeaderNames() throws Exception {
        int before = simulator.received().size();
        String response = raw("GET /v1/models HTTP/1.1\r\nHost: metadata.google.internal\r\nConnection: close\r\n\r\n");

        assertThat(response).startsWith("HTTP/1.1 200");
        assertThat(simulator.received().size()).isEqualTo(before + 1);
    }

    @Test
    void shouldNotLetPathTraversalEscapeTheUpstreamsRoot() throws Exception {
        int before = simulator.received().size();
        String response = raw("GET /v1/../../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");

        assertThat(response).startsWith("HTTP/1.1 ");
        assertThat(response).doesNotContain("root:");
        simulator.received().stream().skip(before)
                .forEach(r -> assertThat(r.path()).doesNotContain(".."));
    }

    @Test
    void shouldNotLetAnEncodedSlashSmuggleAPath() throws Exception {
        String response = raw("GET /v1%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");

        assertThat(response).startsWith("HTTP/1.1 ");
        assertThat(response).doesNotContain("root:");
    }

    @Test
    void shouldRefuseABodyDeclaredOverTheLimitWithoutForwardingIt() throws Exception {
        int before = simulator.received().size();
        String id = nextId();

        String response = raw("POST " + COMPLETIONS + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "X-Request-Id: " + id + "\r\nContent-Length: " + (10 << 20) + "\r\n\r\n");

        assertRejectedWith413(response, id, before);
    }

    @Test
    void shouldRefuseAChunkedBodyOnceItPassesTheLimitWithoutForwardingIt() throws Exception {
        int before = simulator.received().size();
        String id = nextId();
        String prefix = "{\"model\":\"tokentap/sim-1b\",\"max_tokens\":2,\"prompt\":\"";
        String chunk = prefix + "a".repeat(MAX_REQUEST_BYTES + 1 - prefix.length());

        String response = raw("POST " + COMPLETIONS + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "X-Request-Id: " + id + "\r\nTransfer-Encoding: chunked\r\n\r\n"
                + Integer.toHexString(chunk.length()) + "\r\n" + chunk + "\r\n");

        assertRejectedWith413(response, id, before);
    }

    @Test
    void shouldCutAChunkedUploadWith413OnceItPassesTheLimit() throws Exception {
        // given a multipart upload, which streams to the upstream rather than being held, sent chunked
        String id = nextId();
        String boundary = "b0undary";
        String form = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ntokentap/sim-1b\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                + "Content-Type: audio/wav\r\n\r\n" + "a".repeat(MAX_REQUEST_BYTES) + "\r\n--" + boundary + "--\r\n";

        // when it passes the limit part-way
        String response = raw("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Content-Type: multipart/form-data; boundary=" + boundary + "\r\n"
                + "X-Request-Id: " + id + "\r\nTransfer-Encoding: chunked\r\n\r\n"
                + Integer.toHexString(form.length()) + "\r\n" + form + "\r\n0\r\n\r\n");

        // then it is cut with 413 in OpenAI's shape, and recorded as rejected
        assertThat(response).startsWith("HTTP/1.1 413").contains("\"code\":413");
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        UsageEvent event = publisher.byRequestId(id).get(0);
        assertThat(event.status()).isEqualTo(413);
        assertThat(event.outcome()).isEqualTo(Outcome.REJECTED);
    }

    @Test
    void shouldAnswer400ToAChunkedBodyWithABrokenChunkSizeWithoutForwardingIt() throws Exception {
        int before = simulator.received().size();
        String id = nextId();
        String first = "{\"model\":\"tokentap/sim-1b\",\"max_tokens\":2,";

        String response = raw("POST " + COMPLETIONS + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "X-Request-Id: " + id + "\r\nTransfer-Encoding: chunked\r\n\r\n"
                + Integer.toHexString(first.length()) + "\r\n" + first + "\r\nzz\r\n\"prompt\":\"hi\"}\r\n0\r\n\r\n");

        assertThat(response).startsWith("HTTP/1.1 400");
        assertThat(response).contains("\"code\":400").contains("malformed");
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        UsageEvent event = publisher.byRequestId(id).get(0);
        assertThat(event.status()).isEqualTo(400);
        assertThat(event.outcome()).isEqualTo(Outcome.REJECTED);
        assertThat(simulator.received()).hasSize(before);
    }

    @Test
    void shouldForwardABodyJustUnderTheLimit() {
        String prefix = "{\"model\":\"tokentap/sim-1b\",\"max_tokens\":2,\"prompt\":\"";
        String body = prefix + "a".repeat(MAX_REQUEST_BYTES - prefix.length() - 2) + "\"}";

        HttpResponse<String> response = Http.send(Http.post(base, COMPLETIONS, body));

        assertThat(body).hasSize(MAX_REQUEST_BYTES);
        assertThat(response.statusCode()).isEqualTo(200);
    }

    @Test
    void shouldIgnoreASpoofedForwardedForFromAPeerThatIsNotTrusted() throws Exception {
        String id = nextId();

        String response = raw("127.0.0.1", completionWithForwardedFor(id, "6.6.6.6"));

        assertThat(response).startsWith("HTTP/1.1 200");
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        assertThat(publisher.byRequestId(id).get(0).clientAddress()).isEqualTo("127.0.0.1");
    }

    @Test
    void shouldTakeTheClientFromForwardedForWhenTheBalancerIsTrusted() throws Exception {
        String id = nextId();

        // the client put 6.6.6.6 in front; the trusted balancer appended the address it saw
        String response = raw(TRUSTED_BALANCER, completionWithForwardedFor(id, "6.6.6.6, 198.51.100.4"));

        assertThat(response).startsWith("HTTP/1.1 200");
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        assertThat(publisher.byRequestId(id).get(0).clientAddress()).isEqualTo("198.51.100.4");
    }

    @Test
    void shouldIgnoreATenantHeaderFromAPeerThatIsNotTrusted() throws Exception {
        for (String client : List.of("127.0.0.1", OTHER_CLIENT)) {
            String id = nextId();

            // a client naming someone else to bill, straight to the proxy
            String response = raw(client, completionWithHeader(id, TENANT_HEADER + ": team-victim"));

            assertThat(response).startsWith("HTTP/1.1 200");
            await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
            assertThat(publisher.byRequestId(id).get(0).tenant()).as(client).isNull();
        }
    }

    @Test
    void shouldTakeTheTenantHeaderFromTheTrustedGateway() throws Exception {
        String id = nextId();

        String response = raw(TRUSTED_BALANCER, completionWithHeader(id, TENANT_HEADER + ": team-search"));

        assertThat(response).startsWith("HTTP/1.1 200");
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        assertThat(publisher.byRequestId(id).get(0).tenant()).isEqualTo("team-search");
    }

    private static String completionWithForwardedFor(String id, String forwardedFor) {
        return completionWithHeader(id, "X-Forwarded-For: " + forwardedFor);
    }

    private static String completionWithHeader(String id, String header) {
        String body = "{\"model\":\"tokentap/sim-1b\",\"prompt\":\"who am I\",\"max_tokens\":2}";
        return "POST " + COMPLETIONS + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "X-Request-Id: " + id + "\r\n" + header + "\r\nContent-Length: "
                + body.length() + "\r\nConnection: close\r\n\r\n" + body;
    }

    @Test
    void shouldPassAnUpstreamsGarbageThroughAndStillMeterTheStream() {
        String id = nextId();
        String chat = "{\"model\":\"tokentap/sim-1b\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                + "\"max_tokens\":8,\"stream\":true}";

        HttpResponse<String> response = Http.send(Http.post(base, "/v1/chat/completions", chat)
                .header("X-Request-Id", id).header(VllmSimulator.GARBAGE_AFTER_HEADER, "3"));
        HttpResponse<String> direct = Http.send(Http.post(simulator.baseUrl(), "/v1/chat/completions", chat)
                .header("X-Request-Id", id).header(VllmSimulator.GARBAGE_AFTER_HEADER, "3"));

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).contains(VllmSimulator.GARBAGE);
        assertThat(Http.withoutCreated(response.body())).isEqualTo(Http.withoutCreated(direct.body()));
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        UsageEvent event = publisher.byRequestId(id).get(0);
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.usageSource()).isEqualTo(UsageSource.REPORTED);
        assertThat(event.completionTokens()).isEqualTo(8L);
    }

    @Test
    void shouldRecordPartialUsageWhenAnUpstreamSendsGarbageAndDies() {
        String id = nextId();
        String chat = "{\"model\":\"tokentap/sim-1b\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                + "\"max_tokens\":8,\"stream\":true}";

        // the client's response is cut short, as the upstream's was
        Http.sendLenient(Http.post(base, "/v1/chat/completions", chat)
                .header("X-Request-Id", id).header(VllmSimulator.GARBAGE_AFTER_HEADER, "3")
                .header(VllmSimulator.FAIL_AFTER_HEADER, "5"));

        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        UsageEvent event = publisher.byRequestId(id).get(0);
        assertThat(event.status()).isEqualTo(200);
        assertThat(event.outcome()).isEqualTo(Outcome.UPSTREAM_ERROR);
        assertThat(event.usageSource()).isEqualTo(UsageSource.PARTIAL);
        assertThat(event.completionTokens()).isEqualTo(5L);
    }

    private void assertRejectedWith413(String response, String id, int receivedBefore) {
        assertThat(response).startsWith("HTTP/1.1 413");
        assertThat(response).contains("\"error\"").contains("\"code\":413");
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        UsageEvent event = publisher.byRequestId(id).get(0);
        assertThat(event.status()).isEqualTo(413);
        assertThat(event.outcome()).isEqualTo(Outcome.REJECTED);
        assertThat(simulator.received()).hasSize(receivedBefore);
    }

    private void assertUpstreamErrorRecorded(byte[] body, String contentEncoding) {
        String id = nextId();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + COMPLETIONS))
                .header("Content-Type", "application/json").header("X-Request-Id", id)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        HttpResponse<String> response = Http.send(request);

        assertThat(response.statusCode()).isBetween(400, 499);
        assertThat(response.body()).contains("\"error\"");
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        List<UsageEvent> events = publisher.byRequestId(id);
        assertThat(events.get(0).outcome()).isEqualTo(Outcome.UPSTREAM_ERROR);
        assertThat(events.get(0).status()).isEqualTo(response.statusCode());
    }

    private static synchronized String nextId() {
        return "hostile-" + (++counter);
    }

    private static String raw(String request) throws Exception {
        return raw("127.0.0.1", request);
    }

    private static String raw(String localAddress, String request) throws Exception {
        try (Socket socket = new Socket(InetAddress.getByName("127.0.0.1"), proxy.port(),
                InetAddress.getByName(localAddress), 0)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = socket.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }
}
