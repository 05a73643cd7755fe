package dev.tokentap.aggregator.topology;

import dev.tokentap.aggregator.identity.IdentityResolver;
import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.Routes;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.event.UsageSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The aggregator's whole topology per usage event, without a broker: {@link TopologyTestDriver} with the
 * production topology, RocksDB stores in a temporary directory and {@code exactly_once_v2}, fed usage records as the
 * proxy writes them (CloudEvents headers included), each with a fresh {@code event_id}, from two dozen clients with
 * a few models and routes. It counts what the stream thread does per event (decoding, de-duplication, enrichment,
 * both repartitions written and read back, the totals and hourly stores, the enriched record), and leaves out what
 * a broker adds (producer sends, fetches, transactions). Scores are per event.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class UsageTopologyBenchmark {

    static final int BATCH = 1_000;
    private static final String[] MODELS = {"meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-32B-Instruct",
            "mistralai/Mistral-Small-3.1-24B-Instruct-2503", "BAAI/bge-m3"};
    private static final String[] ROUTES = {Routes.CHAT_COMPLETIONS, Routes.CHAT_COMPLETIONS, Routes.COMPLETIONS,
            Routes.EMBEDDINGS};

    private final Random random = new Random(20_251_122L);
    private final Serializer<UsageEvent> serde = new UsageEventSerde().serializer();
    private final List<TestRecord<byte[], byte[]>> batch = new ArrayList<>(BATCH);
    private Path stateDir;
    private TopologyTestDriver driver;
    private TestInputTopic<byte[], byte[]> usage;
    private TestOutputTopic<byte[], byte[]> enriched;

    @Setup(Level.Trial)
    public void start() throws IOException {
        stateDir = Files.createTempDirectory("usage-topology-benchmark");
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "usage-topology-benchmark");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, Long.toString(StreamsConfig.MAX_TASK_IDLE_MS_DISABLED));
        driver = new TopologyTestDriver(UsageTopology.build(Topics.DEFAULT, PodDirectory.NONE,
                IdentityResolver.DEFAULT, Clock.systemUTC(), UsageTopology.Limits.DEFAULT,
                UsageTopology.Billing.DEFAULT, UsageTopology.Observer.NONE), props);
        usage = driver.createInputTopic(Topics.DEFAULT.usage(), new ByteArraySerializer(), new ByteArraySerializer());
        enriched = driver.createOutputTopic(Topics.DEFAULT.enriched(), new ByteArrayDeserializer(),
                new ByteArrayDeserializer());
    }

    @TearDown(Level.Trial)
    public void stop() throws IOException {
        driver.close();
        try (Stream<Path> files = Files.walk(stateDir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }

    /** The next batch of records, each a new event: encoding them is not part of the score. */
    @Setup(Level.Invocation)
    public void nextBatch() {
        batch.clear();
        // the driver keeps every output record until it is read
        enriched.readRecordsToList();
        long now = System.currentTimeMillis();
        for (int i = 0; i < BATCH; i++) {
            int client = random.nextInt(24);
            int kind = random.nextInt(4);
            boolean ok = random.nextInt(100) < 94;
            long prompt = 1 + Math.round(Math.exp(6 + random.nextGaussian()));
            long completion = kind == 3 ? 0 : 1 + Math.round(Math.exp(5 + random.nextGaussian()));
            String address = "10.42." + (1 + client / 8) + "." + (11 + client);
            UsageEvent event = UsageEvent.builder()
                    .eventId(UUID.randomUUID().toString())
                    .requestId(Long.toHexString(random.nextLong()))
                    .responseId("chatcmpl-" + Long.toHexString(random.nextLong()))
                    .method("POST")
                    .route(ROUTES[kind])
                    .status(ok ? 200 : 400)
                    .outcome(ok ? Outcome.OK : Outcome.UPSTREAM_ERROR)
                    .model(kind == 3 ? MODELS[3] : MODELS[client % 3])
                    .responseModel(kind == 3 ? MODELS[3] : MODELS[client % 3])
                    .stream(kind < 2)
                    .clientAddress(address)
                    .apiKeyId(client % 2 == 0 ? "k" + client : null)
                    .proxyHost(client % 2 == 0 ? "vllm-7d9f8c6b5-2xkqp" : "vllm-7d9f8c6b5-h8w4n")
                    .upstream("127.0.0.1:8000")
                    .promptTokens(ok ? prompt : null)
                    .completionTokens(ok ? completion : null)
                    .totalTokens(ok ? prompt + completion : null)
                    .usageSource(ok ? UsageSource.REPORTED : null)
                    .startedAt(now - 2_000)
                    .firstByteAt(now - 1_800)
                    .endedAt(now)
                    .build();
            RecordHeaders headers = new RecordHeaders();
            byte[] value = serde.serialize(Topics.DEFAULT.usage(), headers, event);
            batch.add(new TestRecord<>(address.getBytes(java.nio.charset.StandardCharsets.UTF_8), value, headers,
                    (Long) null));
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void countBatch() {
        usage.pipeRecordList(batch);
    }
}
