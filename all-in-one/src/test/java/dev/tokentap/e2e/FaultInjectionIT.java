package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.event.Topics;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.proxy.TapProxyConfig;
import dev.tokentap.proxy.publish.SpoolingUsagePublisher;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.VllmSimulator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults injected into a running pipeline (a real broker, the simulator, the proxy with its disk spool, the
 * aggregator), each ending with an exact comparison of the aggregator's {@code /metrics} and the enriched topic
 * with what the clients were answered. Each test prints a {@code FIGURES} line for docs/reliability.md.
 *
 * <p>The broker outage lasts {@code -Dtokentap.outage.seconds} (6 by default; the documented run uses 30).
 */
class FaultInjectionIT {

    static final Duration OUTAGE = Duration.ofSeconds(Long.getLong("tokentap.outage.seconds", 6));
    static final Duration WAIT = UsageLedger.WAIT;

    @TempDir
    Path kafkaDir;
    @TempDir
    Path stateDir;
    @TempDir
    Path spoolDir;

    private final List<Aggregator> others = new ArrayList<>();
    private UsageLedger ledger;
    private EmbeddedKafka kafka;
    private VllmSimulator sim;
    private Aggregator aggregator;
    private TapProxy proxy;
    private SpoolingUsagePublisher publisher;
    private PrometheusMeterRegistry proxyRegistry;

    @BeforeEach
    void startEverything() {
        kafka = EmbeddedKafka.builder().dataDir(kafkaDir).partitions(3).build().start();
        ledger = new UsageLedger(kafka.bootstrapServers());
        sim = VllmSimulator.builder().host("127.0.0.1").port(0).itl(Duration.ofMillis(1)).build().start();
        aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(), "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", stateDir.toString(), "--topic-partitions", "3", "--kubernetes", "off"));
        assertThat(aggregator.awaitRunning(WAIT)).isTrue();
        proxy = startProxy();
    }

    private TapProxy startProxy() {
        TapProxyConfig config = ProxyConfigs.loopback(sim.baseUrl(), kafka.bootstrapServers(),
                "--api-key-hash-secret", "fault-injection", "--proxy-host", "tap-faults",
                "--spool-dir", spoolDir.toString());
        proxyRegistry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        return TapProxy.start(config, proxyRegistry, metrics -> {
            publisher = SpoolingUsagePublisher.create(config.publishing(), "tap-faults", metrics);
            return publisher;
        });
    }

    @AfterEach
    void stopEverything() {
        if (proxy != null) proxy.close(Duration.ofSeconds(2));
        others.forEach(Aggregator::close);
        if (aggregator != null) aggregator.close();
        if (sim != null) sim.close();
        if (kafka != null) kafka.close();
    }

    @Test
    void shouldCountEveryRequestOnceThroughABrokerOutageUnderLoad() throws Exception {
        // given steady load
        send(20);

        // when the broker stops in the middle of it, the load goes on, and the broker comes back on its data
        kafka.stop();
        long until = System.nanoTime() + OUTAGE.toNanos();
        int duringOutage = 0;
        while (System.nanoTime() < until) {
            send(1);
            duringOutage++;
        }
        kafka.start();
        send(20);

        // then
        awaitExact("broker stopped " + OUTAGE.toSeconds() + " s mid-load, restarted on the same data dir",
                "sent during the outage " + duringOutage);
    }

    @Test
    void shouldReplayTheSpoolOfAProxyKilledWhileKafkaWasDown() throws Exception {
        // given some usage delivered, then the broker goes away and more requests are served
        send(10);
        kafka.stop();
        send(25);
        await().atMost(WAIT).until(() -> proxyMetric("tokentap_proxy_events_spooled_total") == ledger.size());

        // when the proxy dies without warning, and a new one starts on the same spool once the broker is back
        publisher.halt();
        proxy.close(Duration.ZERO);
        kafka.start();
        proxy = startProxy();
        send(10);

        // then
        awaitExact("proxy killed while the broker was down, a new proxy replays its spool", "");
        long replayed = proxyMetric("tokentap_proxy_events_replayed_total");
        System.out.printf("FIGURES replayed_by_the_new_proxy=%d%n", replayed);
        assertThat(replayed).isGreaterThanOrEqualTo(25);
    }

    @Test
    void shouldKeepTheSumOverTwoAggregatorsExactWhenOneStops(@TempDir Path secondStateDir) throws Exception {
        // given two aggregators sharing the work
        Aggregator second = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(), "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", secondStateDir.toString(), "--topic-partitions", "3", "--kubernetes", "off"));
        others.add(second);
        assertThat(second.awaitRunning(WAIT)).isTrue();
        send(30);
        awaitExact("two aggregators sharing the work", "", List.of(aggregator, second));

        // when one of them stops mid-load and the other takes its partitions over
        second.close();
        others.remove(second);
        send(30);

        // then
        awaitExact("two aggregators, one stopped mid-load (rebalance onto the other)", "", List.of(aggregator));
    }

    @Test
    void shouldCountAnEventPublishedTwiceOnlyOnce() throws Exception {
        // given normal traffic whose events are all on the usage log
        send(10);
        List<ConsumerRecord<byte[], byte[]>> published = usageRecords(10);

        // when some of them are published again, byte for byte and to the same partition, as a proxy re-sends
        // an event whose acknowledgement it never got, among more normal traffic
        int copies = 4;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ProducerConfig.ACKS_CONFIG, "all"), new ByteArraySerializer(), new ByteArraySerializer())) {
            for (ConsumerRecord<byte[], byte[]> original : published.subList(0, copies)) {
                producer.send(new ProducerRecord<>(original.topic(), original.partition(), original.key(),
                        original.value(), original.headers())).get();
            }
        }
        send(10);

        // then every request still counts once, and the aggregator says it dropped the copies
        UsageLedger.Figures figures = awaitExact("the same events published twice among normal traffic",
                "published_twice=" + copies);
        assertThat(usageRecords(20 + copies)).hasSize(20 + copies);
        assertThat(figures.duplicates()).isGreaterThanOrEqualTo(copies);
    }

    /** The records of the usage log as they are on the broker, waiting until there are {@code expected}. */
    private List<ConsumerRecord<byte[], byte[]>> usageRecords(int expected) {
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false), new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(Topics.USAGE).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            await().atMost(WAIT).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
                return records.size() >= expected;
            });
        }
        return records;
    }

    private void send(int n) throws IOException, InterruptedException {
        ledger.send(proxy.port(), "tap-faults", sim.models().get(0), n);
    }

    /** Waits until /metrics and the enriched topic hold exactly what the clients were answered, and prints it. */
    private UsageLedger.Figures awaitExact(String scenario, String note) throws IOException, InterruptedException {
        return awaitExact(scenario, note, List.of(aggregator));
    }

    /** As above, with the totals summed over {@code instances}, as Prometheus's sum() would. */
    private UsageLedger.Figures awaitExact(String scenario, String note, List<Aggregator> instances)
            throws IOException, InterruptedException {
        return ledger.awaitExact(scenario, note,
                instances.stream().map(a -> "http://127.0.0.1:" + a.port() + "/metrics").toList());
    }

    private long proxyMetric(String name) {
        return PrometheusText.parse(proxyRegistry.scrape()).sum(name, Map.of());
    }
}
