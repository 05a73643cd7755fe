package dev.tokentap.testkit.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.AppenderBase;
import ch.qos.logback.core.spi.FilterReply;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.slf4j.LoggerFactory;
import org.slf4j.Marker;

/**
 * Every fault the simulator injects, or meets from its clients, ends there: once the client has seen it, the
 * simulator's threads go quiet (no CPU, no log lines, no extra threads) and it goes on serving. A request handed back
 * to the web framework after Jetty has recycled it once made the simulator spin and log without end.
 */
// on a thread of its own: a simulator that spins can also hang its own stop, which an interrupt does not end;
// three minutes, because a first Jetty start on a build machine loaded far past its two cores once took a minute
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class VllmSimulatorFaultsIT {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final String THREAD_PREFIX = "vllm-sim-";
    private static final String CHAT = "/v1/chat/completions";
    private static final String COMPLETIONS = "/v1/completions";
    private static final String CHAT_BODY = "{\"messages\":[{\"role\":\"user\",\"content\":\"tell a story\"}],"
            + "\"max_tokens\":%d,\"stream\":%b%s}";
    /**
     * How long the simulator is watched once the client has seen the fault. A spinning thread shows within a few
     * milliseconds even on a loaded machine; the window is long enough for a stream's next step to come due.
     */
    private static final Duration WINDOW = Duration.ofMillis(700);
    /** CPU the simulator's threads may use over the window: an idle server uses next to none, a spin uses most. */
    private static final Duration CPU_BOUND = Duration.ofMillis(60);
    /** Log lines over the window: a quiet server writes none; one stray line is tolerated, a loop writes thousands. */
    private static final int LOG_BOUND = 1;

    /** A simulator that spins may also stop answering: the test then fails rather than waits. */
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);
    /**
     * What follows a fault can depend on which thread wins a race, so each is injected several times: an engine death
     * ten times (the old simulator spun after one in a few), the rest three times.
     */
    private static final int DEATHS = 10;
    private static final int OTHERS = 3;

    /**
     * Past this many lines the log is cut off for the rest of the run: a simulator that spins goes on doing so after
     * its test failed, and would otherwise fill the disk with the build log.
     */
    private static final int FLOOD = 2_000;

    private static final CountingAppender LOGS = new CountingAppender();

    @BeforeAll
    static void countLogLines() {
        assertThat(THREADS.isThreadCpuTimeSupported()).as("per-thread CPU time").isTrue();
        THREADS.setThreadCpuTimeEnabled(true);
        LOGS.start();
        root().addAppender(LOGS);
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        TurboFilter floodGate = new TurboFilter() {
            @Override
            public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params,
                                      Throwable t) {
                return LOGS.count() > FLOOD ? FilterReply.DENY : FilterReply.NEUTRAL;
            }
        };
        floodGate.start();
        context.addTurboFilter(floodGate);
    }

    @AfterAll
    static void stopCounting() {
        root().detachAppender(LOGS);
        LOGS.stop();
    }

    static Stream<Named<Fault>> faults() {
        return Stream.of(
                fault("the engine dies mid-stream", DEATHS, b -> b, sim -> expectCut(sim, CHAT, body(50, true, ""),
                        VllmSimulator.FAIL_AFTER_HEADER, "3")),
                fault("the engine dies before the first token", DEATHS, b -> b, sim -> expectCut(sim, COMPLETIONS,
                        "{\"prompt\":\"a\",\"max_tokens\":9,\"stream\":true}", VllmSimulator.FAIL_AFTER_HEADER, "0")),
                fault("the engine dies mid-stream with two choices", DEATHS, b -> b.itl(Duration.ofMillis(2)),
                        sim -> expectCut(sim, CHAT, body(50, true, ",\"n\":2"), VllmSimulator.FAIL_AFTER_HEADER, "7")),
                fault("garbage, then the engine dies", DEATHS, b -> b, sim -> expectCut(sim, CHAT, body(50, true, ""),
                        VllmSimulator.GARBAGE_AFTER_HEADER, "2", VllmSimulator.FAIL_AFTER_HEADER, "4")),
                fault("an error event after the 200", OTHERS, b -> b, sim -> expectWhole(sim, CHAT, body(50, true, ""),
                        VllmSimulator.ERROR_AFTER_HEADER, "5")),
                fault("garbage mid-stream", OTHERS, b -> b, sim -> expectWhole(sim, CHAT, body(20, true, ""),
                        VllmSimulator.GARBAGE_AFTER_HEADER, "3")),
                fault("a hook header that is no number", OTHERS, b -> b, sim -> expectStatus(sim, CHAT,
                        body(5, true, ""), 400, VllmSimulator.FAIL_AFTER_HEADER, "soon")),
                fault("a request that is no JSON", OTHERS, b -> b, sim -> expectStatus(sim, CHAT, "{\"messages\":", 400)),
                fault("the client leaves mid-stream", OTHERS, b -> b.itl(Duration.ofMillis(5)),
                        sim -> leave(sim, body(2000, true, ""), 300)),
                fault("the client leaves before the first token", OTHERS, b -> b.ttft(Duration.ofMillis(300)),
                        sim -> leave(sim, body(5, true, ""), 10)),
                fault("the client leaves before a whole answer", OTHERS, b -> b.ttft(Duration.ofMillis(300)),
                        sim -> leave(sim, body(5, false, ""), 0)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("faults")
    void shouldGoQuietAndKeepServingAfterTheFault(Fault fault) throws Exception {
        // given a simulator that has served once, so its threads are up
        try (VllmSimulator sim = fault.settings().apply(VllmSimulator.builder()).build().start()) {
            expectWhole(sim, CHAT, body(3, true, ""));
            int threadsBefore = simulatorThreads().length;

            // when the fault has reached the client
            for (int i = 0; i < fault.repeats(); i++) {
                fault.inject().run(sim);
            }

            // then the simulator stays quiet over the window
            Usage start = Usage.now();
            await().during(WINDOW).atMost(WINDOW.multipliedBy(4)).untilAsserted(() -> {
                Usage since = Usage.now().minus(start);
                assertThat(since.cpu()).as("CPU of the simulator's threads since the fault").isLessThan(CPU_BOUND);
                assertThat(since.logLines()).as("log lines since the fault").isLessThanOrEqualTo(LOG_BOUND);
            });
            // pools may start a thread or two on demand; a fault that held a thread would hold one per injection
            assertThat(simulatorThreads().length).as("simulator threads").isLessThanOrEqualTo(threadsBefore + 2);
            // and it still serves
            expectWhole(sim, COMPLETIONS, "{\"prompt\":\"a\",\"max_tokens\":2,\"stream\":true}");
        }
    }

    @Test
    void shouldLeaveNoThreadBehindWhenStoppedWithStreamsInFlight() throws Exception {
        // given a stream in flight and one cut by the engine
        VllmSimulator sim = VllmSimulator.builder().itl(Duration.ofMillis(20)).build().start();
        HttpResponse<InputStream> inFlight = HTTP.send(request(sim, CHAT, body(500, true, "")).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(new String(inFlight.body().readNBytes(6), StandardCharsets.UTF_8)).isEqualTo("data: ");
        expectCut(sim, CHAT, body(50, true, ""), VllmSimulator.FAIL_AFTER_HEADER, "2");

        // when it stops
        sim.stop();

        // then its threads end
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(simulatorThreads()).extracting(ThreadInfo::getThreadName).isEmpty());
        inFlight.body().close();
    }

    private static Named<Fault> fault(String name, int repeats, UnaryOperator<VllmSimulator.Builder> settings,
                                      Injection inject) {
        return Named.of(name, new Fault(repeats, settings, inject));
    }

    private static String body(int maxTokens, boolean stream, String extra) {
        return CHAT_BODY.formatted(maxTokens, stream, extra);
    }

    private static HttpRequest.Builder request(VllmSimulator sim, String path, String body, String... headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(sim.baseUrl() + path))
                .timeout(REQUEST_TIMEOUT)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        return headers.length == 0 ? request : request.headers(headers);
    }

    /** The stream starts with a 200 and ends without its last chunk: the client's read fails, and soon. */
    private static void expectCut(VllmSimulator sim, String path, String body, String... headers) throws Exception {
        HttpResponse<InputStream> response = HTTP.send(request(sim, path, body, headers).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(response.statusCode()).isEqualTo(200);
        try (EventStreamReader events = new EventStreamReader(response.body())) {
            assertThatThrownBy(() -> {
                while (events.next(REQUEST_TIMEOUT).isPresent()) {
                    // the events before the cut
                }
            }).as("a stream cut by the engine").isInstanceOf(UncheckedIOException.class);
        }
    }

    private static void expectWhole(VllmSimulator sim, String path, String body, String... headers) throws Exception {
        HttpResponse<String> response = HTTP.send(request(sim, path, body, headers).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).endsWith("data: [DONE]\n\n");
    }

    private static void expectStatus(VllmSimulator sim, String path, String body, int status, String... headers)
            throws Exception {
        HttpResponse<String> response = HTTP.send(request(sim, path, body, headers).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(status);
        assertThat(response.body()).contains("\"error\"");
    }

    /** Sends a chat request on a raw socket and closes it after reading that many bytes of the response. */
    private static void leave(VllmSimulator sim, String body, int readBytes) throws Exception {
        int before = sim.received().size();
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket("127.0.0.1", sim.port())) {
            socket.setSoTimeout((int) REQUEST_TIMEOUT.toMillis());
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + CHAT + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            out.write(bytes);
            out.flush();
            await().atMost(Duration.ofSeconds(5)).until(() -> sim.received().size() > before);
            InputStream in = socket.getInputStream();
            assertThat(in.readNBytes(readBytes)).hasSize(readBytes);
        }
    }

    private static ThreadInfo[] simulatorThreads() {
        return Arrays.stream(THREADS.getThreadInfo(THREADS.getAllThreadIds()))
                .filter(info -> info != null && info.getThreadName().startsWith(THREAD_PREFIX))
                .toArray(ThreadInfo[]::new);
    }

    private static Logger root() {
        return (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    }

    @FunctionalInterface
    interface Injection {
        void run(VllmSimulator sim) throws Exception;
    }

    record Fault(int repeats, UnaryOperator<VllmSimulator.Builder> settings, Injection inject) {
    }

    /** CPU used by the simulator's threads (threads that ended keep nothing) and log lines written, so far. */
    record Usage(Duration cpu, int logLines) {
        static Usage now() {
            long nanos = 0;
            for (ThreadInfo info : simulatorThreads()) {
                long cpu = THREADS.getThreadCpuTime(info.getThreadId());
                nanos += Math.max(0, cpu);
            }
            return new Usage(Duration.ofNanos(nanos), LOGS.count());
        }

        Usage minus(Usage earlier) {
            return new Usage(cpu.minus(earlier.cpu), logLines - earlier.logLines);
        }
    }

    /** Counts the events that reach the root logger, whatever their level; keeps none of them. */
    static final class CountingAppender extends AppenderBase<ILoggingEvent> {
        private final AtomicInteger events = new AtomicInteger();

        @Override
        protected void append(ILoggingEvent event) {
            events.incrementAndGet();
        }

        int count() {
            return events.get();
        }
    }
}
