package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.event.Outcome;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.testkit.kafka.KafkaExtension;
import dev.tokentap.testkit.kafka.TestKafka;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.client.BufferingResponseListener;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.InputStreamRequestContent;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.client.StringRequestContent;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * What arrives cannot exhaust the proxy's memory: tap-proxy runs in a JVM of its own with the container image's JVM
 * options (a 96 MiB heap, {@code -XX:+ExitOnOutOfMemoryError}), and takes ten 30 MiB request bodies at once and four
 * huge responses at once: 200 MiB of a single JSON string, 200 MiB of millions of small JSON values, a 64 MiB stream
 * of one event, a 64 MiB stream of small chunks whose usage it strips. It stays up, serves another client
 * all the while, refuses what its request memory budget cannot hold with a 503 that it records as
 * {@code rejected}, still reads the usage after the huge values, and its resident set stays under
 * {@link #PEAK_RSS_BOUND_MIB} (docs/reliability.md). The bodies and responses are made on the fly.
 */
@ExtendWith(KafkaExtension.class)
class MemoryBoundsIT {

    /** The documented bound of the proxy's resident set (VmHWM) under these drills, in MiB. */
    static final long PEAK_RSS_BOUND_MIB = 320;

    private static final String TOPIC = "tokentap.usage.memory";
    private static final long MIB = 1 << 20;
    private static final String RESPONSE_SHAPE = "X-Test-Response";
    private static final String SMALL_ANSWER = "{\"id\":\"cmpl-small\",\"object\":\"text_completion\",\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"text\":\"ok\",\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}";
    private static final String USAGE_TAIL = "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":11,"
            + "\"total_tokens\":18}}";
    /** A response of one JSON string of about 200 MiB, then the usage. */
    private static final RepeatedJson ONE_STRING = RepeatedJson.ofSize(
            "{\"id\":\"cmpl-one-string\",\"object\":\"text_completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                    + "\"text\":\"", "a longer completion than any model writes, é€😀 \\\" \\u00e9 ",
            "\",\"finish_reason\":\"length\"}]," + USAGE_TAIL, 200 * MIB);
    /** A response of about 200 MiB of small objects, each with a member name of its own, then the usage. */
    private static final RepeatedJson SMALL_VALUES = new RepeatedJson(
            ("{\"id\":\"cmpl-small-values\",\"object\":\"text_completion\",\"model\":\"m\","
                    + "\"data\":[").getBytes(StandardCharsets.UTF_8),
            "{\"k########\":\"v\",\"n\":12,\"x\":[1,2.5,true,null]},".getBytes(StandardCharsets.UTF_8),
            200 * MIB / 47, ("{}]," + USAGE_TAIL).getBytes(StandardCharsets.UTF_8));

    /** A Responses API stream whose one event, the completed response, holds about 64 MiB of text. */
    private static final RepeatedJson SSE_ONE_EVENT = RepeatedJson.ofSize(
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_sse-one-event\","
                    + "\"object\":\"response\",\"model\":\"m\",\"output\":[{\"type\":\"message\",\"content\":[{"
                    + "\"type\":\"output_text\",\"text\":\"", "a long answer, é€😀 \\\" ",
            "\"}]}],\"usage\":{\"input_tokens\":7,\"output_tokens\":11,\"total_tokens\":18}}}\n\n", 64 * MIB);
    /** One streamed chat chunk with the running usage the proxy asks for, which it cuts out again. */
    private static final String CHUNK_HEAD = "data: {\"id\":\"chatcmpl-sse-small-events\",\"object\":"
            + "\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
            + "{\"content\":\"hi\"},\"finish_reason\":null}]";
    private static final String CHUNK_USAGE = ",\"usage\":{\"prompt_tokens\":7,\"total_tokens\":8,"
            + "\"completion_tokens\":1}";
    /** A chat stream of about 64 MiB of small chunks, then vLLM's usage-only chunk and [DONE]. */
    private static final RepeatedJson SSE_SMALL_EVENTS = RepeatedJson.ofSize("", CHUNK_HEAD + CHUNK_USAGE + "}\n\n",
            "data: {\"id\":\"chatcmpl-sse-small-events\",\"object\":\"chat.completion.chunk\",\"created\":1,"
                    + "\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"total_tokens\":18,"
                    + "\"completion_tokens\":11}}\n\ndata: [DONE]\n\n", 64 * MIB);

    /** Body bytes the upstream read, by request id: a request it never saw is absent. */
    private static final Map<String, Long> received = new ConcurrentHashMap<>();
    private static Server upstream;
    private static ProxyProcess proxy;
    private static UsageLog log;
    private static HttpClient client;

    @BeforeAll
    static void start(TestKafka kafka) throws Exception {
        kafka.createTopic(TOPIC, 1);
        upstream = Upstreams.started(new BulkUpstream());
        proxy = ProxyProcess.start(Path.of("target", "memory-bounds-it"), List.of(
                "--upstream", Upstreams.url(upstream),
                "--kafka", kafka.bootstrapServers(), "--topic", TOPIC, "--proxy-host", "memory-it",
                "--api-key-hash-secret", "x"));
        log = new UsageLog(kafka, TOPIC);
        client = new HttpClient();
        client.setMaxConnectionsPerDestination(64);
        client.start();
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {log, proxy}) {
            if (c != null) {
                c.close();
            }
        }
        if (client != null) {
            client.stop();
        }
        if (upstream != null) {
            upstream.stop();
        }
    }

    @AfterEach
    void proxyStayedUpWithinItsBound(org.junit.jupiter.api.TestInfo test) throws Exception {
        assertThat(proxy.alive()).as("tap-proxy is alive; see %s", proxy.log()).isTrue();
        long peakMib = proxy.peakRssKib() / 1024;
        System.out.printf("memory-bounds: after %s tap-proxy peak RSS (VmHWM) %d MiB, RSS now %d MiB%n",
                test.getTestMethod().map(java.lang.reflect.Method::getName).orElse("?"), peakMib,
                proxy.rssKib() / 1024);
        assertThat(peakMib).as("peak resident set, MiB").isLessThanOrEqualTo(PEAK_RSS_BOUND_MIB);
    }

    @Test
    void shouldRefuseWhatItsBudgetCannotHoldAndForwardTheRestWhenTenClientsSend30MiBAtOnce() throws Exception {
        // given ten clients sending a 30 MiB prompt each at once, half with a declared length, half chunked
        RepeatedJson body = RepeatedJson.ofSize("{\"model\":\"m\",\"max_tokens\":1,\"prompt\":\"", "0123456789abcdef",
                "\"}", 30 * MIB);
        List<CompletableFuture<Result>> uploads = new ArrayList<>();
        OtherClient other = OtherClient.start();
        for (int i = 0; i < 10; i++) {
            uploads.add(send(post("/v1/completions", "thirty-" + i, body, i % 2 == 0)));
        }

        // when all have been answered
        List<Result> results = new ArrayList<>();
        for (CompletableFuture<Result> upload : uploads) {
            results.add(upload.get(3, TimeUnit.MINUTES));
        }
        int served = other.stop();

        // then each was forwarded whole or refused with 503 in OpenAI's shape, never sent upstream in part
        int forwarded = 0;
        for (int i = 0; i < 10; i++) {
            String id = "thirty-" + i;
            Response response = results.get(i).getResponse();
            assertThat(response).as(id + " answered").isNotNull();
            assertThat(response.getStatus()).as(id).isIn(200, 503);
            UsageEvent event = log.awaitOne(id).value();
            if (response.getStatus() == 200) {
                forwarded++;
                assertThat(received.get(id)).as(id + " reached the upstream whole").isEqualTo(body.length());
                assertThat(event.outcome()).isEqualTo(Outcome.OK);
                assertThat(event.model()).isEqualTo("m");
            } else {
                assertThat(((Buffered) results.get(i)).text).contains("\"code\":503");
                assertThat(received).as(id + " never reached the upstream").doesNotContainKey(id);
                assertThat(event.outcome()).isEqualTo(Outcome.REJECTED);
                assertThat(event.status()).isEqualTo(503);
            }
        }
        System.out.printf("memory-bounds: of ten 30 MiB bodies at once %d forwarded, %d refused 503; the other "
                + "client was answered %d times meanwhile%n", forwarded, 10 - forwarded, served);
        assertThat(forwarded).as("bodies forwarded").isPositive();
        other.assertServed(served);
    }

    @Test
    void shouldForwardA30MiBBodyOfSmallStringsWhole() throws Exception {
        // given a chat of a million small messages, sent chunked, then with its length declared
        RepeatedJson body = RepeatedJson.ofSize("{\"model\":\"m\",\"stream\":true,\"messages\":[",
                "{\"role\":\"user\",\"content\":\"hi\"},", "{\"role\":\"user\",\"content\":\"bye\"}]}", 30 * MIB);
        for (boolean declared : new boolean[] {false, true}) {
            String id = "small-strings-" + declared;

            Result result = send(post("/v1/chat/completions", id, body, declared)).get(2, TimeUnit.MINUTES);

            // then it reaches the upstream whole, with the stream options the proxy adds
            assertThat(result.getResponse().getStatus()).as(id).isEqualTo(200);
            assertThat(received.get(id)).isGreaterThan(body.length());
            UsageEvent event = log.awaitOne(id).value();
            assertThat(event.outcome()).isEqualTo(Outcome.OK);
            assertThat(event.stream()).isTrue();
        }
    }

    @Test
    void shouldPassHugeResponsesThroughAndStillReadTheUsageAfterThem() throws Exception {
        // given an upstream answering, all at once: a JSON body of one 200 MiB string, one of 200 MiB of small
        // values, a stream whose one event holds 64 MiB, and a stream of 64 MiB of small chunks
        OtherClient other = OtherClient.start();
        long started = System.nanoTime();
        Map<String, AtomicLong> bytesSeen = new ConcurrentHashMap<>();
        Map<String, CompletableFuture<Result>> responses = new java.util.TreeMap<>();
        responses.put("one-string", huge("one-string", "/v1/completions", "{\"model\":\"m\",\"prompt\":\"hi\"}",
                bytesSeen));
        responses.put("small-values", huge("small-values", "/v1/completions",
                "{\"model\":\"m\",\"prompt\":\"hi\"}", bytesSeen));
        responses.put("sse-one-event", huge("sse-one-event", "/v1/responses",
                "{\"model\":\"m\",\"input\":\"hi\",\"stream\":true}", bytesSeen));
        responses.put("sse-small-events", huge("sse-small-events", "/v1/chat/completions",
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}", bytesSeen));

        // when all have been passed on
        for (CompletableFuture<Result> response : responses.values()) {
            assertThat(response.get(3, TimeUnit.MINUTES).isSucceeded()).isTrue();
        }
        int served = other.stop();
        System.out.printf("memory-bounds: four huge responses passed at once in %d ms; the other client was "
                + "answered %d times meanwhile%n", (System.nanoTime() - started) / 1_000_000, served);

        // then the client got every byte it would have had from vLLM, and the usage after the huge values was read
        Map<String, Long> expected = Map.of("one-string", ONE_STRING.length(), "small-values", SMALL_VALUES.length(),
                "sse-one-event", SSE_ONE_EVENT.length(),
                // the running usage the proxy asked for is cut from every chunk, its usage-only chunk dropped
                "sse-small-events", SSE_SMALL_EVENTS.count() * (CHUNK_HEAD.length() + "}\n\n".length())
                        + "data: [DONE]\n\n".length());
        for (String shape : responses.keySet()) {
            assertThat(bytesSeen.get(shape).get()).as(shape).isEqualTo(expected.get(shape));
            UsageEvent event = log.awaitOne(shape).value();
            assertThat(event.outcome()).as(shape).isEqualTo(Outcome.OK);
            assertThat(event.usageSource()).as(shape).isEqualTo(UsageSource.REPORTED);
            assertThat(event.promptTokens()).as(shape).isEqualTo(7L);
            assertThat(event.completionTokens()).as(shape).isEqualTo(11L);
            assertThat(event.responseId()).as(shape).endsWith(shape);
        }
        other.assertServed(served);
    }

    /** Asks for the huge response {@code shape}, counting the bytes that reach the client. */
    private static CompletableFuture<Result> huge(String shape, String path, String body,
                                                 Map<String, AtomicLong> bytesSeen) {
        AtomicLong seen = new AtomicLong();
        bytesSeen.put(shape, seen);
        CompletableFuture<Result> done = new CompletableFuture<>();
        client.newRequest(proxy.baseUrl() + path).method(HttpMethod.POST)
                .headers(h -> h.put("X-Request-Id", shape).put(RESPONSE_SHAPE, shape))
                .timeout(3, TimeUnit.MINUTES)
                .body(new StringRequestContent("application/json", body))
                .onResponseContent((response, content) -> seen.addAndGet(content.remaining()))
                .send(done::complete);
        return done;
    }

    private static Request post(String path, String id, RepeatedJson body, boolean declaredLength) {
        Request request = client.newRequest(proxy.baseUrl() + path).method(HttpMethod.POST)
                .headers(h -> h.put("X-Request-Id", id))
                .timeout(3, TimeUnit.MINUTES)
                .body(new InputStreamRequestContent("application/json", body.stream(), 64 * 1024));
        if (declaredLength) {
            request.headers(h -> h.put(HttpHeader.CONTENT_LENGTH, Long.toString(body.length())));
        }
        return request;
    }

    /** Sends {@code request}; its result comes with the response body as text, the answer being small. */
    private static CompletableFuture<Result> send(Request request) {
        CompletableFuture<Result> done = new CompletableFuture<>();
        request.send(new BufferingResponseListener(64 * 1024) {
            @Override
            public void onComplete(Result result) {
                done.complete(new Buffered(result, getContentAsString()));
            }
        });
        return done;
    }

    /** A result and the text of its response. */
    private static final class Buffered extends Result {
        final String text;

        Buffered(Result result, String text) {
            super(result.getRequest(), result.getRequestFailure(), result.getResponse(), result.getResponseFailure());
            this.text = text;
        }
    }

    /** Another client asking small completions one after another while a drill runs: each must be answered 200. */
    private static final class OtherClient {
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final AtomicInteger ok = new AtomicInteger();
        private final List<String> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        private final Thread thread;

        private OtherClient() {
            thread = new Thread(this::run, "other-client");
        }

        static OtherClient start() {
            OtherClient other = new OtherClient();
            other.thread.start();
            return other;
        }

        private void run() {
            while (running.get()) {
                try {
                    var response = client.newRequest(proxy.baseUrl() + "/v1/completions").method(HttpMethod.POST)
                            .headers(h -> h.put("X-Request-Id", "other-" + System.nanoTime()))
                            .timeout(30, TimeUnit.SECONDS)
                            .body(new StringRequestContent("application/json", "{\"model\":\"m\",\"prompt\":\"hi\"}"))
                            .send();
                    if (response.getStatus() == 200) {
                        ok.incrementAndGet();
                    } else {
                        failures.add("status " + response.getStatus());
                    }
                } catch (Exception e) {
                    failures.add(String.valueOf(e));
                }
            }
        }

        /** Stops asking; returns how many requests were answered 200 until now, while the drill ran. */
        int stop() throws InterruptedException {
            int served = ok.get();
            running.set(false);
            thread.join(60_000);
            return served;
        }

        void assertServed(int servedDuringTheDrill) {
            assertThat(failures).as("the other client's failures").isEmpty();
            assertThat(servedDuringTheDrill).as("requests of the other client answered during the drill").isPositive();
        }
    }

    /**
     * Reads every request body to its end, counting it, then answers: a small completion, or one of the huge
     * responses {@link #RESPONSE_SHAPE} names, written as it is made.
     */
    private static final class BulkUpstream extends Handler.Abstract {
        private static final Map<String, RepeatedJson> HUGE = Map.of("one-string", ONE_STRING,
                "small-values", SMALL_VALUES, "sse-one-event", SSE_ONE_EVENT, "sse-small-events", SSE_SMALL_EVENTS);

        @Override
        public boolean handle(org.eclipse.jetty.server.Request request, org.eclipse.jetty.server.Response response,
                              Callback callback) throws Exception {
            String id = String.valueOf(request.getHeaders().get("X-Request-Id"));
            long length = 0;
            try (InputStream in = Content.Source.asInputStream(request)) {
                byte[] buffer = new byte[64 * 1024];
                int n;
                while ((n = in.read(buffer)) > 0) {
                    length += n;
                }
            }
            received.put(id, length);
            RepeatedJson answer = HUGE.get(String.valueOf(request.getHeaders().get(RESPONSE_SHAPE)));
            boolean stream = answer == SSE_ONE_EVENT || answer == SSE_SMALL_EVENTS;
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, stream ? "text/event-stream" : "application/json");
            if (answer != null) {
                if (!stream) {
                    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, answer.length());
                }
                try (OutputStream out = Content.Sink.asOutputStream(response)) {
                    answer.writeTo(out);
                }
                callback.succeeded();
            } else {
                response.write(true, ByteBuffer.wrap(SMALL_ANSWER.getBytes(StandardCharsets.UTF_8)), callback);
            }
            return true;
        }
    }
}
