package dev.tokentap.cli;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.StringRequestContent;
import org.eclipse.jetty.http.HttpMethod;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A little OpenAI-style traffic through the proxy for the demo, from several loopback source addresses so that
 * the aggregator sees several clients: chat and completions, streamed and not, embeddings and the Responses API.
 */
final class DemoTraffic {

    private static final Logger LOG = LoggerFactory.getLogger(DemoTraffic.class);

    /** The source addresses the demo calls from; all of 127.0.0.0/8 is local on Linux. */
    static final List<String> CLIENTS = List.of("127.0.0.2", "127.0.0.3", "127.0.0.4");

    private final String proxyBaseUrl;
    private final String model;

    DemoTraffic(String proxyBaseUrl, String model) {
        this.proxyBaseUrl = proxyBaseUrl;
        this.model = model;
    }

    /** Sends the traffic and returns how many requests were answered. */
    int send() throws Exception {
        int answered = 0;
        for (int c = 0; c < CLIENTS.size(); c++) {
            HttpClient http = new HttpClient();
            if (canBind(CLIENTS.get(c))) {
                http.setBindAddress(new InetSocketAddress(CLIENTS.get(c), 0));
            } else {
                LOG.warn("demo client cannot bind source address={}; using the default", CLIENTS.get(c));
            }
            http.start();
            String apiKey = "Bearer demo-key-" + (c + 1);
            try {
                for (String body : requestsFor(c)) {
                    String path = body.contains("\"messages\"") ? "/v1/chat/completions"
                            : body.contains("\"prompt\"") ? "/v1/completions"
                            : body.contains("\"max_output_tokens\"") ? "/v1/responses" : "/v1/embeddings";
                    ContentResponse response = http.newRequest(proxyBaseUrl + path)
                            .method(HttpMethod.POST)
                            .headers(h -> h.put("Authorization", apiKey))
                            .body(new StringRequestContent("application/json", body))
                            .timeout(30, TimeUnit.SECONDS)
                            .send();
                    if (response.getStatus() == 200) {
                        answered++;
                    } else {
                        LOG.warn("demo request status={} path={}", response.getStatus(), path);
                    }
                }
            } finally {
                http.stop();
            }
        }
        return answered;
    }

    /** Client {@code c} sends more, and longer, requests than client {@code c - 1}, so the table has a shape. */
    private List<String> requestsFor(int c) {
        List<String> bodies = new ArrayList<>();
        for (int i = 0; i <= c; i++) {
            int maxTokens = 8 * (c + 1) + i;
            bodies.add("{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                    + "\"How many tokens does this question use?\"}],\"max_tokens\":" + maxTokens + "}");
            bodies.add("{\"model\":\"" + model + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
                    + "\"Stream me a short answer please\"}],\"max_tokens\":" + maxTokens + "}");
            bodies.add("{\"model\":\"" + model + "\",\"prompt\":\"San Francisco is a\",\"max_tokens\":" + maxTokens
                    + "}");
            bodies.add("{\"model\":\"" + model + "\",\"prompt\":\"Once upon a time\",\"stream\":true,"
                    + "\"max_tokens\":" + maxTokens + "}");
        }
        bodies.add("{\"model\":\"" + model + "\",\"input\":[\"embed this sentence\",\"and this one\"]}");
        bodies.add("{\"model\":\"" + model + "\",\"input\":\"Answer in one line\",\"max_output_tokens\":"
                + (4 + c) + "}");
        return bodies;
    }

    private static boolean canBind(String address) {
        try (var socket = new java.net.Socket()) {
            socket.bind(new InetSocketAddress(InetAddress.getByName(address), 0));
            return true;
        } catch (Exception e) {
            return false;
        }
    }
}
