package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An upstream that reports usage values that cannot be counts: the client gets the upstream's answer unchanged,
 * and the event says {@code usage_source="invalid"} with no counts at all, never the values themselves.
 */
class InvalidUsageIT {

    /** What the upstream answers, by request id: a JSON body or a stream. */
    private static final Map<String, String> ANSWERS = Map.of(
            "negative", json("{\"prompt_tokens\":-1000,\"completion_tokens\":5,\"total_tokens\":-995}"),
            "huge", json("{\"prompt_tokens\":1e30,\"completion_tokens\":1e30,\"total_tokens\":2e30}"),
            "fractional", json("{\"prompt_tokens\":2.5,\"completion_tokens\":1,\"total_tokens\":3.5}"),
            "text", json("{\"prompt_tokens\":\"12\",\"completion_tokens\":1,\"total_tokens\":13}"),
            "past-the-bound", json("{\"prompt_tokens\":1000000001,\"completion_tokens\":1,"
                    + "\"total_tokens\":1000000002}"),
            "stream", "data: {\"id\":\"chatcmpl-s\",\"object\":\"chat.completion.chunk\",\"model\":\"m\","
                    + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"
                    + "data: {\"id\":\"chatcmpl-s\",\"object\":\"chat.completion.chunk\",\"model\":\"m\","
                    + "\"choices\":[],\"usage\":{\"prompt_tokens\":-7,\"completion_tokens\":1,\"total_tokens\":-6}}"
                    + "\n\ndata: [DONE]\n\n");

    private static Server upstream;
    private static RecordingPublisher publisher;
    private static TapProxy proxy;
    private static String base;

    private static String json(String usage) {
        return "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                + "\"text\":\"hi\",\"finish_reason\":\"stop\"}],\"usage\":" + usage + "}";
    }

    @BeforeAll
    static void start() throws Exception {
        upstream = Upstreams.started(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                String id = String.valueOf(request.getHeaders().get("X-Request-Id"));
                String answer = ANSWERS.get(id);
                response.getHeaders().put(HttpHeader.CONTENT_TYPE,
                        answer.startsWith("data:") ? "text/event-stream" : "application/json");
                Content.Sink.write(response, true, answer, callback);
                return true;
            }
        });
        publisher = new RecordingPublisher();
        proxy = TapProxy.start(ProxyConfigs.loopback(Upstreams.url(upstream),
                "--proxy-host", "invalid-usage-it", "--api-key-hash-secret", "x"), publisher, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
        base = "http://127.0.0.1:" + proxy.port();
    }

    @AfterAll
    static void stop() throws Exception {
        proxy.close();
        upstream.stop();
    }

    @ParameterizedTest
    @ValueSource(strings = {"negative", "huge", "fractional", "text", "past-the-bound", "stream"})
    void shouldPassTheAnswerAndPublishTheUsageAsInvalidWithoutCounts(String id) {
        String path = id.equals("stream") ? "/v1/chat/completions" : "/v1/completions";
        String body = id.equals("stream")
                ? "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,"
                        + "\"stream_options\":{\"include_usage\":true}}"
                : "{\"model\":\"m\",\"prompt\":\"hi\"}";

        HttpResponse<String> response = Http.send(Http.post(base, path, body).header("X-Request-Id", id));

        // the client gets what the upstream sent, untouched
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).isEqualTo(ANSWERS.get(id));
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        UsageEvent event = publisher.byRequestId(id).get(0);
        assertThat(event.outcome()).isEqualTo(Outcome.OK);
        assertThat(event.usageSource()).isEqualTo(UsageSource.INVALID);
        assertThat(event.promptTokens()).isNull();
        assertThat(event.completionTokens()).isNull();
        assertThat(event.totalTokens()).isNull();
        java.util.regex.Matcher counted = java.util.regex.Pattern.compile(
                "tokentap_proxy_usage_invalid_total\\{route=\"" + path + "\"} (\\S+)").matcher(proxy.registry().scrape());
        assertThat(counted.find()).isTrue();
        assertThat(Double.parseDouble(counted.group(1))).isPositive();
    }
}
