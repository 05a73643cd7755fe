package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import dev.tokentap.testkit.metrics.PrometheusText;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * A full run with bearer tokens and recognisable prompt text, then every record of every topic on the broker
 * (internal ones included) and every log line of the run are searched for them: none may appear anywhere.
 */
class SecretsIT {

    static final Duration WAIT = Duration.ofSeconds(90);

    @TempDir
    Path kafkaDir;
    @TempDir
    Path stateDir;
    @TempDir
    Path spoolDir;

    @Test
    void shouldKeepTokensAndBodiesOutOfEveryTopicAndLogLine() throws Exception {
        List<String> secrets = List.of("sk-secret-" + UUID.randomUUID(), "sk-secret-" + UUID.randomUUID(),
                "prompt-text-" + UUID.randomUUID());
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        root.addAppender(logs);
        HttpClient http = HttpClient.newHttpClient();
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(kafkaDir).partitions(3).build().start();
             VllmSimulator sim = VllmSimulator.builder().host("127.0.0.1").port(0).build().start()) {
            Aggregator aggregator = Aggregator.start(AggregatorConfig.fromArgs("--kafka", kafka.bootstrapServers(), "--listen", "127.0.0.1", "--port", "0",
                "--state-dir", stateDir.toString(), "--topic-partitions", "3", "--kubernetes", "off"));
            TapProxy proxy = TapProxy.start(ProxyConfigs.loopback(sim.baseUrl(), kafka.bootstrapServers(),
                    "--api-key-hash-secret", "secrets-it-hash-key", "--proxy-host", "tap-secrets",
                    "--spool-dir", spoolDir.toString()));
            try {
                // when: each token calls, streamed and not, with a prompt that names the third secret
                int sent = 0;
                for (String token : secrets.subList(0, 2)) {
                    for (boolean stream : List.of(false, true)) {
                        HttpResponse<String> response = http.send(HttpRequest.newBuilder(
                                        URI.create("http://127.0.0.1:" + proxy.port() + "/v1/completions"))
                                .header("Authorization", "Bearer " + token)
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"" + sim.models().get(0)
                                        + "\",\"prompt\":\"" + secrets.get(2) + "\",\"max_tokens\":3,\"stream\":"
                                        + stream + "}"))
                                .build(), HttpResponse.BodyHandlers.ofString());
                        assertThat(response.statusCode()).isEqualTo(200);
                        sent++;
                    }
                }
                int expected = sent;
                await().atMost(WAIT).untilAsserted(() -> assertThat(PrometheusText.parse(http.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + aggregator.port() + "/metrics"))
                                .build(), HttpResponse.BodyHandlers.ofString()).body())
                        .sum("vllm_requests_total", Map.of())).isEqualTo(expected));
            } finally {
                proxy.close();
                aggregator.close();
            }

            // then: not in any record of any topic
            List<String> records = allRecords(kafka.bootstrapServers());
            assertThat(records).isNotEmpty();
            for (String secret : secrets) {
                assertThat(records).noneMatch(r -> r.contains(secret));
            }
        } finally {
            root.detachAppender(logs);
        }
        // a thread that was already logging may still append: stop the appender under the lock its appends
        // take, and read a copy
        List<ILoggingEvent> lines;
        synchronized (logs) {
            logs.stop();
            lines = new ArrayList<>(logs.list);
        }
        // and not in any log line
        assertThat(lines).isNotEmpty();
        for (ILoggingEvent event : lines) {
            if (event.getLoggerName().startsWith("dev.tokentap.testkit")) {
                continue; // the simulator stands in for vLLM, whose logs are not tokentap's
            }
            String line = event.getFormattedMessage() + (event.getThrowableProxy() == null ? ""
                    : event.getThrowableProxy().getMessage());
            for (String secret : secrets) {
                assertThat(line).doesNotContain(secret);
            }
        }
    }

    /** Key, value and headers of every record in every topic, internal ones included, as text. */
    private static List<String> allRecords(String bootstrap) throws Exception {
        Set<String> topics;
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            topics = admin.listTopics(new ListTopicsOptions().listInternal(true)).names().get();
        }
        Map<String, Object> props = new HashMap<>();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        List<String> all = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (String topic : topics) {
                consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            await().atMost(WAIT).until(() -> {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    StringBuilder text = new StringBuilder(r.topic()).append(' ');
                    text.append(r.key() == null ? "" : new String(r.key(), StandardCharsets.ISO_8859_1)).append(' ');
                    text.append(r.value() == null ? "" : new String(r.value(), StandardCharsets.ISO_8859_1));
                    for (Header h : r.headers()) {
                        text.append(' ').append(h.key()).append('=')
                                .append(h.value() == null ? "" : new String(h.value(), StandardCharsets.ISO_8859_1));
                    }
                    all.add(text.toString());
                }
                return partitions.stream().allMatch(p -> consumer.position(p) >= end.get(p));
            });
        }
        return all;
    }
}
