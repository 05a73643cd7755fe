package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Request bodies the proxy holds until complete before it asks the upstream anything, against an upstream that
 * records every request the moment its head arrives, complete or not: a body over {@code --max-request-bytes}
 * never reaches it, even sent chunked; a multipart upload still streams.
 */
class HeldBodyIT {

    private static final int LIMIT = 64 * 1024;
    private static final String ANSWER = "{\"id\":\"cmpl-held\",\"object\":\"text_completion\",\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"text\":\"ok\",\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}";

    /** Request ids in the order their heads reached the upstream. */
    private static final List<String> heads = new CopyOnWriteArrayList<>();
    /** Complete bodies the upstream read, by request id. */
    private static final Map<String, String> bodies = new ConcurrentHashMap<>();
    /** How each request's body was framed when it reached the upstream: its Content-Length, or "chunked". */
    private static final Map<String, String> framing = new ConcurrentHashMap<>();
    private static Server upstream;
    private static RecordingPublisher publisher;
    private static TapProxy proxy;
    private static String base;

    @BeforeAll
    static void start() throws Exception {
        upstream = Upstreams.started(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String id = String.valueOf(request.getHeaders().get("X-Request-Id"));
                heads.add(id);
                String length = request.getHeaders().get(HttpHeader.CONTENT_LENGTH);
                framing.put(id, length != null ? length
                        : String.valueOf(request.getHeaders().get(HttpHeader.TRANSFER_ENCODING)));
                bodies.put(id, Content.Source.asString(request, StandardCharsets.UTF_8));
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
                Content.Sink.write(response, true, ANSWER, callback);
                return true;
            }
        });
        publisher = new RecordingPublisher();
        proxy = TapProxy.start(ProxyConfigs.loopback(Upstreams.url(upstream),
                "--proxy-host", "held-it", "--api-key-hash-secret", "x", "--max-request-bytes", Long.toString(LIMIT)), publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
        base = "http://127.0.0.1:" + proxy.port();
    }

    @AfterAll
    static void stop() throws Exception {
        proxy.close();
        upstream.stop();
    }

    @Test
    void shouldNeverOpenAnUpstreamRequestForAChunkedBodyThatPassesTheLimitPartWay() throws Exception {
        try (Socket client = new Socket("127.0.0.1", proxy.port())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            // given three quarters of the limit sent chunked, a pause, then a chunk that takes it over
            out.write(head("/v1/completions", "over-limit", "application/json"));
            out.write(chunk("{\"model\":\"m\",\"prompt\":\"" + "a".repeat(16 * 1024)));
            out.write(chunk("a".repeat(16 * 1024)));
            out.write(chunk("a".repeat(16 * 1024)));
            out.flush();
            // pacing the client, not waiting for a result: a proxy that streamed would have opened its request
            Thread.sleep(500);
            // over by a few bytes, so that the proxy has read all the client sent when it answers
            out.write(chunk("a".repeat(LIMIT - 3 * 16 * 1024) + "\"}"));
            out.flush();

            String response = new String(client.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);

            // then 413 in OpenAI's shape, recorded as rejected
            assertThat(response).startsWith("HTTP/1.1 413").contains("\"code\":413");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId("over-limit").size() == 1);
        UsageEvent event = publisher.byRequestId("over-limit").get(0);
        assertThat(event.outcome()).isEqualTo(Outcome.REJECTED);
        assertThat(event.status()).isEqualTo(413);

        // and an ordinary request after it reaches the upstream, while the refused one never did
        HttpResponse<String> ok = Http.send(Http.post(base, "/v1/completions", "{\"model\":\"m\",\"prompt\":\"hi\"}")
                .header("X-Request-Id", "after-over-limit"));
        assertThat(ok.statusCode()).isEqualTo(200);
        assertThat(heads).contains("after-over-limit").doesNotContain("over-limit");
    }

    @Test
    void shouldForwardAChunkedBodyUnderTheLimitWholeAndUnchanged() throws Exception {
        String body = "{\"model\":\"m\",\"prompt\":\"" + "b".repeat(40 * 1024) + "\"}";
        try (Socket client = new Socket("127.0.0.1", proxy.port())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            out.write(head("/v1/completions", "under-limit", "application/json"));
            for (int at = 0; at < body.length(); at += 10_000) {
                out.write(chunk(body.substring(at, Math.min(body.length(), at + 10_000))));
            }
            out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();

            assertThat(readHead(client.getInputStream())).startsWith("HTTP/1.1 200");
        }
        assertThat(bodies.get("under-limit")).isEqualTo(body);
        // held whole, so the upstream gets it with its length rather than chunked
        assertThat(framing.get("under-limit")).isEqualTo(Integer.toString(body.length()));
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId("under-limit").size() == 1);
        assertThat(publisher.byRequestId("under-limit").get(0).outcome()).isEqualTo(Outcome.OK);
    }

    @Test
    void shouldDeclareTheLengthOfABodyTheProxyAddedStreamOptionsTo() {
        String chat = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";

        Http.sendLenient(Http.post(base, "/v1/chat/completions", chat).header("X-Request-Id", "rewritten"));

        String forwarded = bodies.get("rewritten");
        assertThat(forwarded).contains("stream_options").hasSizeGreaterThan(chat.length());
        assertThat(framing.get("rewritten")).isEqualTo(Integer.toString(forwarded.length()));
    }

    @Test
    void shouldStreamAMultipartUploadToTheUpstreamBeforeItIsComplete() throws Exception {
        String boundary = "tokentapboundary";
        String first = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                + "Content-Type: audio/wav\r\n\r\n" + "x".repeat(8 * 1024);
        String rest = "x".repeat(8 * 1024) + "\r\n--" + boundary + "--\r\n";
        try (Socket client = new Socket("127.0.0.1", proxy.port())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            out.write(head("/v1/audio/transcriptions", "upload", "multipart/form-data; boundary=" + boundary));
            out.write(chunk(first));
            out.flush();

            // the upload's head reaches vLLM while the client is still sending: uploads are not held
            await().atMost(Duration.ofSeconds(10)).until(() -> heads.contains("upload"));
            assertThat(bodies).doesNotContainKey("upload");

            out.write(chunk(rest));
            out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            assertThat(readHead(client.getInputStream())).startsWith("HTTP/1.1 200");
        }
        assertThat(bodies.get("upload")).isEqualTo(first + rest);
        assertThat(framing.get("upload")).isEqualTo("chunked");
    }

    @Test
    void shouldAnswerAnExpectContinueItselfAndForwardTheHeldBodyWhole() throws Exception {
        String body = "{\"model\":\"m\",\"prompt\":\"" + "c".repeat(4 * 1024) + "\"}";
        try (Socket client = new Socket("127.0.0.1", proxy.port())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "X-Request-Id: continue\r\nExpect: 100-continue\r\nContent-Length: " + body.length()
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();

            // the proxy, not the upstream, lets the client go on: the upstream has not been asked yet
            assertThat(readHead(client.getInputStream())).startsWith("HTTP/1.1 100");
            assertThat(heads).doesNotContain("continue");
            out.write(body.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();

            assertThat(readHead(client.getInputStream())).startsWith("HTTP/1.1 200");
        }
        assertThat(bodies.get("continue")).isEqualTo(body);
    }

    private static byte[] head(String path, String requestId, String contentType) {
        return ("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + contentType + "\r\n"
                + "X-Request-Id: " + requestId + "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1);
    }

    private static byte[] chunk(String data) {
        byte[] bytes = data.getBytes(StandardCharsets.UTF_8);
        return (Integer.toHexString(bytes.length) + "\r\n" + data + "\r\n").getBytes(StandardCharsets.UTF_8);
    }

    private static String readHead(InputStream in) throws Exception {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            head.append((char) b);
        }
        return head.toString();
    }
}
