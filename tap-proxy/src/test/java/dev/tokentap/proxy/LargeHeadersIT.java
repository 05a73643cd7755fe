package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A request whose headers the proxy accepts reaches the upstream whole, although the proxy adds forwarding headers
 * of its own: the upstream request may be larger than anything the client was allowed to send. The upstream here
 * takes heads of up to 64 KiB, as vLLM's server does far beyond 8 KiB.
 */
class LargeHeadersIT {

    private static final String ANSWER = "{\"id\":\"cmpl-big\",\"object\":\"text_completion\",\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"text\":\"ok\",\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}";
    private static final int LARGER_LIMIT = 16 * 1024;

    /** The length of the X-Big header each request had when it reached the upstream, by request id. */
    private static final Map<String, Integer> received = new ConcurrentHashMap<>();
    private static Server upstream;
    private static RecordingPublisher publisher;
    private static TapProxy defaultLimit;
    private static TapProxy largerLimit;

    @BeforeAll
    static void start() throws Exception {
        upstream = new Server();
        HttpConfiguration http = new HttpConfiguration();
        http.setRequestHeaderSize(64 * 1024);
        ServerConnector connector = new ServerConnector(upstream, new HttpConnectionFactory(http));
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        upstream.addConnector(connector);
        upstream.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                String big = request.getHeaders().get("X-Big");
                received.put(String.valueOf(request.getHeaders().get("X-Request-Id")), big == null ? 0 : big.length());
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
                response.write(true, StandardCharsets.UTF_8.encode(ANSWER), callback);
                return true;
            }
        });
        upstream.start();
        URI target = URI.create("http://127.0.0.1:" + connector.getLocalPort());
        publisher = new RecordingPublisher();
        defaultLimit = TapProxy.start(ProxyConfigs.loopback(target, "--proxy-host", "big-it",
                "--api-key-hash-secret", "x"), publisher,
                new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
        largerLimit = TapProxy.start(ProxyConfigs.loopback(target, "--proxy-host", "big-it",
                "--api-key-hash-secret", "x", "--max-header-bytes", Integer.toString(LARGER_LIMIT)), publisher,
                new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    }

    @AfterAll
    static void stop() throws Exception {
        defaultLimit.close();
        largerLimit.close();
        upstream.stop();
    }

    @Test
    void shouldForwardHeadersJustUnderTheDefaultLimit() {
        assertForwardedWhole(defaultLimit, "under-default", defaultLimit.config().clients().maxHeaderBytes() - 300);
    }

    @Test
    void shouldForwardHeadersJustUnderAConfiguredLargerLimit() {
        assertForwardedWhole(largerLimit, "under-larger", LARGER_LIMIT - 300);
    }

    private static void assertForwardedWhole(TapProxy proxy, String id, int headerLength) {
        HttpResponse<String> response = Http.send(Http.post("http://127.0.0.1:" + proxy.port(), "/v1/completions",
                "{\"model\":\"m\",\"prompt\":\"hi\"}").header("X-Request-Id", id).header("X-Big", "a".repeat(headerLength)));

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(received.get(id)).isEqualTo(headerLength);
        await().atMost(Duration.ofSeconds(10)).until(() -> publisher.byRequestId(id).size() == 1);
        assertThat(publisher.byRequestId(id).get(0).outcome()).isEqualTo(Outcome.OK);
    }
}
