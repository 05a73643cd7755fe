package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tokentap.event.HourlyUsage;
import dev.tokentap.event.HourlyUsageCodec;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The aggregator killed (SIGKILL, in a JVM of its own) while it writes an hour's final records, and started again on
 * the same state directory: every client's record of the hour is still written exactly once, with exact sums.
 *
 * <p>A first aggregator, its clock set inside the hour, counts the hour's requests and stops cleanly. A second, on
 * the real clock, finds the hour due and writes its records in one transaction; it is killed as soon as a
 * {@code read_uncommitted} reader has seen all of them, with a commit interval long enough that the transaction
 * (the records, and the hour taken off its open hours) is almost always still open. A third closes the hour again.
 * Prints a {@code FIGURES} line.
 */
class HourlyCloseCrashIT {

    static final long HOUR = 3_600_000;
    static final int CLIENTS = 300;
    static final Path LOGS = Path.of("target", "aggregator-process");
    static final String TOPIC = "tokentap.usage.v1";

    @TempDir
    Path kafkaDir;
    @TempDir
    Path stateDir;

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<AggregatorProcess> aggregators = new ArrayList<>();
    private final ExecutorService watcher = Executors.newSingleThreadExecutor();
    private EmbeddedKafka kafka;

    @BeforeEach
    void startBroker() {
        kafka = EmbeddedKafka.builder().dataDir(kafkaDir).partitions(3).build().start();
    }

    @AfterEach
    void stopEverything() throws InterruptedException {
        watcher.shutdownNow();
        watcher.awaitTermination(30, TimeUnit.SECONDS);
        aggregators.forEach(AggregatorProcess::close);
        kafka.close();
    }

    @Test
    void shouldWriteEachRecordOfTheHourOnceWhenKilledWhileClosingIt() throws Exception {
        // given the requests of 300 clients in an hour five hours back, counted by an aggregator living in that hour
        long now = System.currentTimeMillis();
        long hour = Math.floorDiv(now, HOUR) * HOUR - 5 * HOUR;
        Map<String, long[]> expected = produceHour(hour);
        AggregatorProcess inTheHour = launch("in-hour", Duration.ofMillis(hour + 45 * 60_000 - now), "100ms");
        inTheHour.awaitReady();
        String range = "/api/v1/usage?from=" + Instant.ofEpochMilli(hour) + "&to=" + Instant.ofEpochMilli(hour + HOUR)
                + "&group_by=client_name";
        await().atMost(UsageLedger.WAIT).pollInterval(Duration.ofMillis(500))
                .until(() -> requests(inTheHour, range) == 2L * CLIENTS);
        inTheHour.stop();

        // when an aggregator on the real clock closes the hour and is killed as its records appear
        AtomicBoolean killed = new AtomicBoolean();
        List<HourlyUsage> seenUncommitted = new ArrayList<>();
        AggregatorProcess closing = launch("closing", Duration.ZERO, "5s");
        Future<?> kill = watcher.submit(() -> {
            try (KafkaConsumer<String, byte[]> uncommitted = consumer("read_uncommitted")) {
                while (!killed.get()) {
                    for (ConsumerRecord<String, byte[]> r : uncommitted.poll(Duration.ofMillis(20))) {
                        seenUncommitted.add(new HourlyUsageCodec().decode(r.value()));
                    }
                    // every record of the hour is written, and the open hours removed from its state: the
                    // transaction holding all of that is still open for up to the commit interval
                    if (seenUncommitted.size() >= CLIENTS && !killed.getAndSet(true)) {
                        closing.kill();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return null;
        });
        kill.get(UsageLedger.WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(closing.alive()).isFalse();

        // and a third starts on the same state
        AggregatorProcess again = launch("again", Duration.ZERO, "100ms");
        again.awaitReady();

        // then each client's record of the hour is committed once, with the exact sums
        Map<String, List<HourlyUsage>> committed = new TreeMap<>();
        try (KafkaConsumer<String, byte[]> reader = consumer("read_committed")) {
            await().atMost(UsageLedger.WAIT).pollInterval(Duration.ofMillis(100)).until(() -> {
                for (ConsumerRecord<String, byte[]> r : reader.poll(Duration.ofMillis(200))) {
                    HourlyUsage record = new HourlyUsageCodec().decode(r.value());
                    committed.computeIfAbsent(record.clientName(), c -> new ArrayList<>()).add(record);
                }
                return committed.size() == CLIENTS;
            });
            // anything written twice would be there by now: the hour is closed and the reader at the end
            reader.poll(Duration.ofSeconds(2)).forEach(r -> committed.computeIfAbsent(r.key(),
                    c -> new ArrayList<>()).add(new HourlyUsageCodec().decode(r.value())));
        }
        assertThat(committed.keySet()).isEqualTo(expected.keySet());
        committed.forEach((client, records) -> {
            assertThat(records).as(client).singleElement().satisfies(r -> {
                assertThat(r.kind()).isEqualTo(HourlyUsage.FINAL);
                assertThat(r.hourStart()).isEqualTo(hour);
                assertThat(new long[] {r.requestCount(), r.promptTokens(), r.completionTokens()})
                        .containsExactly(expected.get(client));
            });
        });
        long written = countUncommitted();
        System.out.printf("FIGURES hourly close killed: records_of_the_hour=%d seen_before_the_kill=%d "
                        + "written_committed_or_not=%d aborted_copies=%d (0: the kill came after the commit)%n",
                CLIENTS, seenUncommitted.size(), written, written - CLIENTS);
    }

    private AggregatorProcess launch(String name, Duration clockOffset, String commitInterval) throws Exception {
        AggregatorProcess aggregator = AggregatorProcess.launchWithClock(kafka.bootstrapServers(), stateDir, LOGS,
                "hourly-" + name + "-" + ProcessHandle.current().pid(), clockOffset,
                "--commit-interval", commitInterval);
        aggregators.add(aggregator);
        return aggregator;
    }

    /** Two requests of each client in the hour; returns requests, prompt and completion tokens per client. */
    private Map<String, long[]> produceHour(long hour) {
        Random random = new Random(5);
        Map<String, long[]> expected = new TreeMap<>();
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, UsageEvent> producer = new KafkaProducer<>(props, new StringSerializer(),
                new UsageEventSerde().serializer())) {
            for (int i = 0; i < 2 * CLIENTS; i++) {
                String client = "10.77." + (i % CLIENTS / 250) + "." + (i % CLIENTS % 250 + 1);
                long prompt = 1 + random.nextInt(5000);
                long completion = random.nextInt(800);
                long startedAt = hour + random.nextInt(40 * 60_000);
                producer.send(new ProducerRecord<>(TOPIC, client, UsageEvent.builder()
                        .eventId(UUID.randomUUID().toString()).route("/v1/chat/completions").outcome("ok")
                        .status(200).model("llama").clientAddress(client).proxyHost("tap-hourly")
                        .startedAt(startedAt).endedAt(startedAt + 20).promptTokens(prompt)
                        .completionTokens(completion).totalTokens(prompt + completion).usageSource("reported")
                        .build()));
                long[] sums = expected.computeIfAbsent(client, c -> new long[3]);
                sums[0]++;
                sums[1] += prompt;
                sums[2] += completion;
            }
            producer.flush();
        }
        return expected;
    }

    /** Every hourly record in the topic, of committed and of aborted transactions alike. */
    private long countUncommitted() {
        long n = 0;
        try (KafkaConsumer<String, byte[]> all = consumer("read_uncommitted")) {
            int idle = 0;
            while (idle < 3) {
                int got = all.poll(Duration.ofMillis(500)).count();
                n += got;
                idle = got == 0 ? idle + 1 : 0;
            }
        }
        return n;
    }

    private KafkaConsumer<String, byte[]> consumer(String isolation) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "hourly-crash-" + isolation + "-" + UUID.randomUUID());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
                new ByteArrayDeserializer());
        consumer.subscribe(List.of(Topics.HOURLY));
        return consumer;
    }

    private long requests(AggregatorProcess aggregator, String path) throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(aggregator.url() + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            return -1;
        }
        long n = 0;
        for (JsonNode row : new ObjectMapper().readTree(response.body()).path("rows")) {
            n += row.path("request_count").asLong();
        }
        return n;
    }
}
