package dev.tokentap.bench;

import java.net.URI;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.client.StringRequestContent;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The load generator: Jetty's asynchronous HTTP/1.1 client, keep-alive, one connection pool per target. Each
 * request reports when it was sent, when its first body byte came, when it ended, and for streams when each token
 * event arrived.
 */
public final class LoadClient implements AutoCloseable {

    public static final String MODEL = "tokentap/sim-1b";
    public static final String COMPLETIONS = "/v1/completions";
    public static final String CHAT = "/v1/chat/completions";

    private final HttpClient http;

    public LoadClient(int maxConnectionsPerTarget) throws Exception {
        QueuedThreadPool threads = new QueuedThreadPool(64, 8);
        threads.setName("bench-client");
        threads.setDaemon(true);
        http = new HttpClient();
        http.setExecutor(threads);
        http.setMaxConnectionsPerDestination(maxConnectionsPerTarget);
        http.setMaxRequestsQueuedPerDestination(1 << 16);
        http.setIdleTimeout(300_000);
        http.setConnectTimeout(5_000);
        // no Accept-Encoding and no decoding: the bench reads the bytes exactly as each target passes them on,
        // and the same few headers go to every target
        http.setUserAgentField(null);
        http.getContentDecoderFactories().clear();
        http.start();
    }

    /** A short non-streamed completion of {@code tokens} tokens. */
    public static String completionBody(int tokens) {
        return "{\"model\":\"" + MODEL + "\",\"prompt\":\"Say something short about proxies.\",\"max_tokens\":"
                + tokens + "}";
    }

    /** A streamed chat of {@code tokens} tokens, without usage asked for (the proxy adds and strips it). */
    public static String chatStreamBody(int tokens) {
        return "{\"model\":\"" + MODEL + "\",\"stream\":true,\"max_tokens\":" + tokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story about a reverse proxy.\"}]}";
    }

    /** Told each time a read completes token events of a stream. */
    @FunctionalInterface
    public interface TokenArrivals {
        TokenArrivals NONE = (nanos, count) -> { };

        void onTokens(long nanos, int count);
    }

    /**
     * What happened to one request; times are {@link System#nanoTime()}.
     *
     * @param firstByteNanos when the first body byte arrived, 0 if none did
     * @param tokens         token events of a stream; 0 for a non-streamed answer
     */
    public record Outcome(int status, Throwable failure, long startNanos, long firstByteNanos, long endNanos,
                          int tokens) {
        public boolean ok() {
            return failure == null && status == 200;
        }

        public long latencyNanos() {
            return endNanos - startNanos;
        }

        public long firstByteLatencyNanos() {
            return firstByteNanos == 0 ? endNanos - startNanos : firstByteNanos - startNanos;
        }
    }

    /** Sends one POST; the future completes when the response has been read to the end or failed. */
    public CompletableFuture<Outcome> post(URI base, String path, String body, boolean stream, TokenArrivals arrivals) {
        CompletableFuture<Outcome> done = new CompletableFuture<>();
        SseTokenEvents events = stream ? new SseTokenEvents() : null;
        long[] firstByte = new long[1];
        long start = System.nanoTime();
        http.newRequest(base.resolve(path))
                .method(HttpMethod.POST)
                .timeout(600, TimeUnit.SECONDS)
                .body(new StringRequestContent("application/json", body))
                .send(new Response.Listener() {
                    @Override
                    public void onContent(Response response, ByteBuffer content) {
                        long now = System.nanoTime();
                        if (firstByte[0] == 0) {
                            firstByte[0] = now;
                        }
                        if (events != null) {
                            int tokens = events.feed(content);
                            if (tokens > 0) {
                                arrivals.onTokens(now, tokens);
                            }
                        } else {
                            content.position(content.limit());
                        }
                    }

                    @Override
                    public void onComplete(Result result) {
                        long end = System.nanoTime();
                        done.complete(new Outcome(result.getResponse() == null ? 0 : result.getResponse().getStatus(),
                                result.getFailure(), start, firstByte[0], end, events == null ? 0 : events.tokens()));
                    }
                });
        return done;
    }

    /** The targets in a different order each round, so none always goes first or last. */
    public static List<Target> rotation(List<Target> targets, int round) {
        int n = targets.size();
        return java.util.stream.IntStream.range(0, n).mapToObj(i -> targets.get((i + round) % n)).toList();
    }

    @Override
    public void close() throws Exception {
        http.stop();
    }
}
