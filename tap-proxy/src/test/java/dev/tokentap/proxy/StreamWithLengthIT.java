package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
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
 * An upstream that declares the length of an event stream (vLLM streams chunked, another OpenAI-compatible server
 * may not): the proxy removes the usage chunk it asked for, so the stream the client gets is shorter than the
 * upstream's length. The client must get a whole, well-framed answer, and the usage is still counted.
 */
class StreamWithLengthIT {

    private static final String CONTENT = "data: {\"id\":\"chatcmpl-l\",\"object\":\"chat.completion.chunk\","
            + "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}"
            + "\n\n";
    private static final String USAGE = "data: {\"id\":\"chatcmpl-l\",\"object\":\"chat.completion.chunk\","
            + "\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1,"
            + "\"total_tokens\":8}}\n\n";
    private static final String DONE = "data: [DONE]\n\n";

    private static Server upstream;
    private static RecordingPublisher publisher;
    private static TapProxy proxy;
    private static String base;

    @BeforeAll
    static void start() throws Exception {
        upstream = Upstreams.started(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                byte[] answer = (CONTENT + USAGE + DONE).getBytes(StandardCharsets.UTF_8);
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
                response.getHeaders().put(HttpHeader.CONTENT_LENGTH, answer.length);
                Content.Sink.write(response, true, new String(answer, StandardCharsets.UTF_8), callback);
                return true;
            }
        });
        publisher = new RecordingPublisher();
        proxy = TapProxy.start(ProxyConfigs.loopback(Upstreams.url(upstream),
                        "--proxy-host", "stream-length-it", "--api-key-hash-secret", "x"), publisher,
                new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
        base = "http://127.0.0.1:" + proxy.port();
    }

    @AfterAll
    static void stop() throws Exception {
        proxy.close();
        upstream.stop();
    }

    @Test
    void shouldDeliverAShortenedStreamWholeWhenTheUpstreamDeclaredItsLength() {
        // given a client that did not ask for usage: the proxy asks for it and takes the usage chunk back out
        String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";

        // when
        HttpResponse<String> response = Http.send(Http.post(base, "/v1/chat/completions", body)
                .header("X-Request-Id", "declared-length"));

        // then the client gets the stream it would have had from the upstream, without a stale length
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).isEqualTo(CONTENT + DONE);
        assertThat(response.headers().firstValueAsLong("Content-Length"))
                .satisfiesAnyOf(length -> assertThat(length).isEmpty(),
                        length -> assertThat(length).hasValue((long) (CONTENT + DONE).length()));
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId("declared-length").size() == 1);
        UsageEvent event = publisher.byRequestId("declared-length").get(0);
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.promptTokens()).isEqualTo(7L);
        assertThat(event.completionTokens()).isEqualTo(1L);
    }
}
