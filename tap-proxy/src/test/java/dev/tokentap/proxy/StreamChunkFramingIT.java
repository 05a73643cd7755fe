package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * How a stream the proxy edits reaches the client on the wire: the running usage the proxy asked for is cut out of
 * every event, and what is left of an event goes out as one piece, never split into a chunk before the cut and a
 * chunk after it (each chunk written is a system call, on the busiest path the proxy has). Read with a raw socket,
 * so the chunked framing itself is what is checked.
 */
class StreamChunkFramingIT {

    private static final int TOKENS = 24;
    private static final String HEAD = "data: {\"id\":\"chatcmpl-f\",\"object\":\"chat.completion.chunk\","
            + "\"created\":1763800000,\"model\":\"m\",\"choices\":";

    private static Server upstream;
    private static RecordingPublisher publisher;
    private static TapProxy proxy;

    /** Content event {@code t}, with the running usage vLLM adds under continuous_usage_stats or without it. */
    private static String event(int t, boolean usage) {
        String finish = t == TOKENS ? "\"stop\"" : "null";
        return HEAD + "[{\"index\":0,\"delta\":{\"content\":\" w" + t + "\"},\"finish_reason\":" + finish + "}]"
                + (usage ? ",\"usage\":{\"prompt_tokens\":5,\"total_tokens\":" + (5 + t) + ",\"completion_tokens\":"
                + t + "}" : "") + "}\n\n";
    }

    private static final String USAGE_ONLY = HEAD + "[],\"usage\":{\"prompt_tokens\":5,\"total_tokens\":"
            + (5 + TOKENS) + ",\"completion_tokens\":" + TOKENS + "}}\n\n";
    private static final String DONE = "data: [DONE]\n\n";

    @BeforeAll
    static void start() throws Exception {
        upstream = Upstreams.started(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
                // one write, and so one chunk, per event, as vLLM flushes them
                for (int t = 1; t <= TOKENS; t++) {
                    write(response, event(t, true));
                }
                write(response, USAGE_ONLY);
                write(response, DONE);
                response.write(true, BufferUtil.EMPTY_BUFFER, callback);
                return true;
            }

            private static void write(Response response, String event) throws IOException {
                try (Blocker.Callback written = Blocker.callback()) {
                    response.write(false, BufferUtil.toBuffer(event, StandardCharsets.UTF_8), written);
                    written.block();
                }
            }
        });
        publisher = new RecordingPublisher();
        proxy = TapProxy.start(ProxyConfigs.loopback(Upstreams.url(upstream),
                        "--proxy-host", "chunk-framing-it", "--api-key-hash-secret", "x"), publisher,
                new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    }

    @AfterAll
    static void stop() throws Exception {
        proxy.close();
        upstream.stop();
    }

    @Test
    void shouldWriteWhatIsLeftOfEachEventAsOneChunkOnceItsRunningUsageIsCut() throws IOException {
        // given a client that did not ask for usage: the proxy asks for a running usage in every chunk and cuts it
        String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";

        // when
        List<String> chunks = chunksOf(post("/v1/chat/completions", body, "chunk-framing"));

        // then every chunk ends where an event ends: no event went out in two writes
        StringBuilder expected = new StringBuilder();
        for (int t = 1; t <= TOKENS; t++) {
            expected.append(event(t, false));
        }
        expected.append(DONE);
        assertThat(String.join("", chunks)).isEqualTo(expected.toString());
        assertThat(chunks).isNotEmpty().allSatisfy(chunk -> assertThat(chunk).endsWith("\n\n"));
        // and the usage is what the usage-only chunk said
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId("chunk-framing").size() == 1);
        UsageEvent event = publisher.byRequestId("chunk-framing").get(0);
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.promptTokens()).isEqualTo(5L);
        assertThat(event.completionTokens()).isEqualTo((long) TOKENS);
    }

    /** The whole raw response to one request on a connection of its own. */
    private static byte[] post(String path, String body, String requestId) throws IOException {
        byte[] content = body.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", proxy.port()), 5_000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "X-Request-Id: " + requestId + "\r\nContent-Length: " + content.length
                    + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(content);
            out.flush();
            // a kept-alive connection, so that the body is chunked: read up to the last chunk
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            byte[] buffer = new byte[8192];
            while (!new String(all.toByteArray(), StandardCharsets.ISO_8859_1).endsWith("\r\n0\r\n\r\n")) {
                int read = in.read(buffer);
                assertThat(read).as("the response's last chunk before the connection ends").isPositive();
                all.write(buffer, 0, read);
            }
            return all.toByteArray();
        }
    }

    /** The payloads of a chunked response's chunks, in order, the last (empty) one left out. */
    private static List<String> chunksOf(byte[] response) {
        String text = new String(response, StandardCharsets.ISO_8859_1);
        int headersEnd = text.indexOf("\r\n\r\n");
        assertThat(headersEnd).isPositive();
        assertThat(text.substring(0, headersEnd)).startsWith("HTTP/1.1 200").containsIgnoringCase(
                "Transfer-Encoding: chunked");
        List<String> chunks = new ArrayList<>();
        int at = headersEnd + 4;
        while (true) {
            int lineEnd = text.indexOf("\r\n", at);
            assertThat(lineEnd).as("a chunk size line").isPositive();
            int size = Integer.parseInt(text.substring(at, lineEnd).split(";")[0].trim(), 16);
            if (size == 0) {
                return chunks;
            }
            int start = lineEnd + 2;
            chunks.add(new String(response, start, size, StandardCharsets.UTF_8));
            assertThat(text.substring(start + size, start + size + 2)).isEqualTo("\r\n");
            at = start + size + 2;
        }
    }
}
