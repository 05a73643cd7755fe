package dev.tokentap.proxy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A training run for a class data sharing archive: starts a real proxy in front of a canned vLLM-like upstream in
 * this JVM, pushes a few hundred requests of every metered kind through it (JSON and event-stream answers, chat and
 * completions, usage asked for and not), stops it and exits. Run under {@code -XX:ArchiveClassesAtExit=FILE}, the
 * JVM then writes every class the proxy loaded while serving to FILE, and a proxy started with
 * {@code -XX:SharedArchiveFile=FILE} maps them instead of loading, verifying and linking them again
 * (deploy/images/tap-proxy.Dockerfile does this at image build time; docs/benchmarks.md "Warm-up" has the figures).
 *
 * <p>Kafka is a closed loopback port: events go to a spool in a temporary directory, deleted afterwards, so the
 * publishing classes are loaded too; nothing leaves the machine.
 */
public final class TapProxyTraining {

    private static final Logger LOG = LoggerFactory.getLogger(TapProxyTraining.class);
    /** Requests of each kind; enough for every class on the request path to load, not to compile it. */
    static final int ROUNDS = 100;
    private static final int CONCURRENCY = 8;

    /**
     * What the run did.
     *
     * @param sent     requests sent through the proxy
     * @param answered of those, answered 200 with the upstream's answer
     * @param failure  what the first request not answered so got, or null
     */
    public record Outcome(int sent, int answered, String failure) {
    }

    private TapProxyTraining() {
    }

    /** Exits 0 when every request was answered, 1 otherwise (an image build then fails rather than ship a partial archive). */
    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("tokentap-training");
        Outcome outcome;
        try {
            outcome = run(dir, ROUNDS);
        } finally {
            deleteRecursively(dir);
        }
        if (outcome.failure() != null) {
            LOG.error("training request not answered sent={} answered={} first_failure={}", outcome.sent(),
                    outcome.answered(), outcome.failure());
        } else {
            LOG.info("training done sent={} answered={}", outcome.sent(), outcome.answered());
        }
        System.exit(outcome.sent() == outcome.answered() ? 0 : 1);
    }

    /** Runs {@code rounds} requests of each kind through a proxy spooling under {@code dir}. */
    public static Outcome run(Path dir, int rounds) throws Exception {
        Server upstream = cannedUpstream();
        upstream.start();
        try {
            int upstreamPort = ((ServerConnector) upstream.getConnectors()[0]).getLocalPort();
            TapProxyConfig config = TapProxyConfig.fromArgs(new String[] {
                    "--upstream", "http://127.0.0.1:" + upstreamPort,
                    "--listen", "127.0.0.1", "--port", "0", "--admin-port", "0",
                    // nothing listens on the discard port: the producer is built, events stay in the spool
                    "--kafka", "127.0.0.1:9",
                    "--spool-dir", dir.resolve("spool").toString(),
                    "--proxy-host", "training"}, Map.of());
            TapProxy proxy = TapProxy.start(config);
            try {
                return drive(URI.create("http://127.0.0.1:" + proxy.port()), rounds);
            } finally {
                proxy.close(Duration.ofMillis(200));
            }
        } finally {
            upstream.stop();
        }
    }

    private static Outcome drive(URI proxy, int rounds) throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        List<Kind> kinds = List.of(
                new Kind("/v1/completions", "{\"model\":\"m\",\"prompt\":\"hi\",\"max_tokens\":2}", COMPLETION),
                new Kind("/v1/chat/completions", "{\"model\":\"m\",\"max_tokens\":2,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", CHAT),
                new Kind("/v1/chat/completions", "{\"model\":\"m\",\"max_tokens\":2,\"stream\":true,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", null),
                new Kind("/v1/chat/completions", "{\"model\":\"m\",\"max_tokens\":2,\"stream\":true,"
                        + "\"stream_options\":{\"include_usage\":true},"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", null),
                new Kind("/v1/completions", "{\"model\":\"m\",\"prompt\":\"hi\",\"max_tokens\":2,\"stream\":true}",
                        null));
        AtomicInteger answered = new AtomicInteger();
        AtomicReference<String> failure = new AtomicReference<>();
        int sent = 0;
        for (int round = 0; round < rounds; round += CONCURRENCY) {
            List<CompletableFuture<Void>> inFlight = new ArrayList<>();
            for (int i = round; i < Math.min(rounds, round + CONCURRENCY); i++) {
                for (Kind kind : kinds) {
                    sent++;
                    HttpRequest request = HttpRequest.newBuilder(proxy.resolve(kind.path()))
                            .timeout(Duration.ofSeconds(30))
                            .header("Content-Type", "application/json")
                            .header("Authorization", "Bearer training-" + (i % 4))
                            .POST(HttpRequest.BodyPublishers.ofString(kind.body())).build();
                    inFlight.add(client.sendAsync(request, HttpResponse.BodyHandlers.ofString())
                            .handle((response, error) -> {
                                if (error == null && response.statusCode() == 200
                                        && response.body().contains("\"id\":\"cmpl-t\"")) {
                                    answered.incrementAndGet();
                                } else {
                                    failure.compareAndSet(null, kind.body() + " -> " + (error != null ? error
                                            : response.statusCode() + " " + response.body()));
                                }
                                return null;
                            }));
                }
            }
            CompletableFuture.allOf(inFlight.toArray(CompletableFuture[]::new)).join();
        }
        return new Outcome(sent, answered.get(), failure.get());
    }

    private record Kind(String path, String body, String json) {
    }

    private static final String USAGE = "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}";
    private static final String COMPLETION = "{\"id\":\"cmpl-t\",\"object\":\"text_completion\",\"created\":1,"
            + "\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\"Hi there\",\"finish_reason\":\"length\"}],"
            + USAGE + "}";
    private static final String CHAT = "{\"id\":\"cmpl-t\",\"object\":\"chat.completion\",\"created\":1,"
            + "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi there\"},"
            + "\"finish_reason\":\"length\"}]," + USAGE + "}";

    /** vLLM's shape of an answer: a JSON body, or for {@code "stream":true} an event stream ending in usage. */
    private static Server cannedUpstream() {
        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String body = Content.Source.asString(request, StandardCharsets.UTF_8);
                boolean chat = Request.getPathInContext(request).endsWith("/chat/completions");
                response.setStatus(200);
                if (body.contains("\"stream\":true")) {
                    // chunked, with no length, as vLLM streams: the proxy takes the usage event out of it
                    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
                    response.write(false, utf8(stream(chat)),
                            Callback.from(() -> response.write(true, ByteBuffer.allocate(0), callback),
                                    callback::failed));
                } else {
                    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
                    response.write(true, utf8(chat ? CHAT : COMPLETION), callback);
                }
                return true;
            }
        });
        return server;
    }

    private static ByteBuffer utf8(String text) {
        return ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
    }

    private static String stream(boolean chat) {
        String object = chat ? "chat.completion.chunk" : "text_completion";
        StringBuilder events = new StringBuilder();
        for (String piece : List.of("Hi", " there")) {
            String choice = chat ? "{\"index\":0,\"delta\":{\"content\":\"" + piece + "\"},\"finish_reason\":null}"
                    : "{\"index\":0,\"text\":\"" + piece + "\",\"finish_reason\":null}";
            events.append("data: {\"id\":\"cmpl-t\",\"object\":\"").append(object)
                    .append("\",\"created\":1,\"model\":\"m\",\"choices\":[").append(choice).append("]}\n\n");
        }
        events.append("data: {\"id\":\"cmpl-t\",\"object\":\"").append(object)
                .append("\",\"created\":1,\"model\":\"m\",\"choices\":[],").append(USAGE).append("}\n\n");
        events.append("data: [DONE]\n\n");
        return events.toString();
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
