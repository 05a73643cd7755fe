package dev.tokentap.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tokentap.cli.TokentapMain;
import dev.tokentap.config.Cli;
import dev.tokentap.event.Cost;
import dev.tokentap.event.HourlyUsage;
import dev.tokentap.event.HourlyUsageCodec;
import dev.tokentap.event.Topics;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tokentap report} on a real broker: the invoice rows' sums are exactly those of the committed hourly records
 * of the range, final and late, each record counted once; records of an aborted transaction and of hours outside the
 * range are not in them.
 */
class ReportIT {

    static final long HOUR = 3_600_000;
    static final long MAY = Instant.parse("2026-05-01T00:00:00Z").toEpochMilli();
    static final ObjectMapper JSON = JsonMapper.builder().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .build();

    @TempDir
    Path dir;
    private EmbeddedKafka kafka;

    @BeforeEach
    void startBroker() throws Exception {
        kafka = EmbeddedKafka.builder().dataDir(dir).build().start();
        try (Admin admin = Admin.create(kafka.clientProperties())) {
            admin.createTopics(List.of(new NewTopic(Topics.HOURLY, 3, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
    }

    @AfterEach
    void stopBroker() {
        kafka.close();
    }

    @Test
    void shouldPrintRowsWhoseSumsAreExactlyThoseOfTheCommittedRecordsOfTheRange() throws Exception {
        // given a month of hourly records, committed, plus one repeated, one aborted and some outside the range
        Random random = new Random(3);
        List<HourlyUsage> committed = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            long hour = MAY - 24 * HOUR + random.nextInt(24 * 33) * HOUR;
            committed.add(record(random, hour, i % 25 == 0 ? HourlyUsage.LATE : HourlyUsage.FINAL));
        }
        HourlyUsage repeated = committed.get(7);
        HourlyUsage aborted = record(random, MAY + 5 * HOUR, HourlyUsage.FINAL);
        produce(committed, List.of(repeated), List.of(aborted));
        long from = MAY;
        long to = Instant.parse("2026-06-01T00:00:00Z").toEpochMilli();

        // when
        String json = report("--from", "2026-05-01", "--to", "2026-06-01T00:00:00Z", "--format", "json");
        String csv = report("--from", "2026-05-01", "--to", "2026-06-01", "--group-by", "client_name");

        // then each client/model row is the exact sum of its records of May
        Map<String, BigDecimal[]> expected = new TreeMap<>();
        for (HourlyUsage r : committed) {
            if (r.hourStart() >= from && r.hourStart() < to) {
                BigDecimal[] s = expected.computeIfAbsent(r.clientName() + "/" + r.model(),
                        k -> new BigDecimal[] {BigDecimal.ZERO, BigDecimal.ZERO, BigDecimal.ZERO, BigDecimal.ZERO});
                s[0] = s[0].add(BigDecimal.valueOf(r.requestCount()));
                s[1] = s[1].add(BigDecimal.valueOf(r.promptTokens()));
                s[2] = s[2].add(r.costOrNone().amount("USD"));
                s[3] = s[3].add(r.audioSeconds());
            }
        }
        Map<String, BigDecimal[]> printed = new TreeMap<>();
        for (JsonNode row : JSON.readTree(json)) {
            printed.put(row.path("client_name").asText() + "/" + row.path("model").asText(), new BigDecimal[] {
                    row.path("requests").decimalValue(), row.path("prompt_tokens").decimalValue(),
                    new BigDecimal(row.path("cost").path("USD").asText("0")), row.path("audio_seconds").decimalValue()});
        }
        assertThat(printed.keySet()).isEqualTo(expected.keySet());
        expected.forEach((key, sums) -> {
            for (int i = 0; i < sums.length; i++) {
                assertThat(printed.get(key)[i]).as(key + " column " + i).isEqualByComparingTo(sums[i]);
            }
        });
        // and the CSV per client adds up to the same totals
        List<String> lines = csv.lines().toList();
        assertThat(lines.get(0)).isEqualTo("client_name,requests,late_requests,prompt_tokens,cached_tokens,"
                + "completion_tokens,reasoning_tokens,total_tokens,audio_seconds,unpriced_requests,cost,currency");
        BigDecimal csvCost = lines.stream().skip(1).map(l -> l.split(",", -1)[10]).filter(c -> !c.isEmpty())
                .map(BigDecimal::new).reduce(BigDecimal.ZERO, BigDecimal::add);
        assertThat(csvCost).isEqualByComparingTo(expected.values().stream().map(s -> s[2])
                .reduce(BigDecimal.ZERO, BigDecimal::add));
        long csvRequests = lines.stream().skip(1).mapToLong(l -> Long.parseLong(l.split(",")[1])).sum();
        assertThat(csvRequests).isEqualTo(expected.values().stream().mapToLong(s -> s[0].longValue()).sum());
    }

    private String report(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> all = new ArrayList<>(List.of("report", "--kafka", kafka.bootstrapServers()));
        all.addAll(List.of(args));
        int exit = Cli.execute(new TokentapMain(), all.toArray(String[]::new), Map.of(), new PrintWriter(out, true),
                new PrintWriter(err, true));
        assertThat(exit).as(err.toString()).isZero();
        assertThat(err.toString()).contains("repeated");
        return out.toString();
    }

    private void produce(List<HourlyUsage> committed, List<HourlyUsage> again, List<HourlyUsage> aborted) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "report-it");
        HourlyUsageCodec codec = new HourlyUsageCodec();
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(props, new StringSerializer(),
                new ByteArraySerializer())) {
            producer.initTransactions();
            for (List<HourlyUsage> batch : List.of(committed, again, aborted)) {
                producer.beginTransaction();
                for (HourlyUsage r : batch) {
                    producer.send(new ProducerRecord<>(Topics.HOURLY, null, r.closedAt(), r.clientName(),
                            codec.encode(r)));
                }
                if (batch == aborted) {
                    producer.flush();
                    producer.abortTransaction();
                } else {
                    producer.commitTransaction();
                }
            }
        }
    }

    private static HourlyUsage record(Random random, long hour, String kind) {
        String client = List.of("ranker", "chat-frontend", "batch", "10.42.3.17").get(random.nextInt(4));
        String model = List.of("llama", "qwen", "whisper").get(random.nextInt(3));
        long prompt = random.nextInt(100_000);
        long completion = random.nextInt(20_000);
        BigDecimal audio = model.equals("whisper") ? new BigDecimal(random.nextInt(10_000)).movePointLeft(2)
                : BigDecimal.ZERO;
        Cost cost = model.equals("qwen") ? Cost.NONE
                : Cost.of("USD", new BigDecimal(random.nextInt(1_000_000_000)).movePointLeft(9));
        return new HourlyUsage(1, UUID.randomUUID().toString(), kind, hour, hour + HOUR, "team", client, model,
                "/v1/chat/completions", new TreeMap<>(Map.of("ok", 1L + random.nextInt(50))), prompt, completion,
                prompt + completion, 0, 0, audio, cost, model.equals("qwen") ? 3 : 0, hour + 1, hour + HOUR - 1,
                hour + HOUR + 600_000 + random.nextInt(1_000_000));
    }
}
