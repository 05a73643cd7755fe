package dev.tokentap.cli;

import dev.tokentap.event.HourlyUsage;
import dev.tokentap.event.HourlyUsageCodec;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEventDecodeException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import dev.tokentap.config.EnvAlias;
import dev.tokentap.config.Environment;
import dev.tokentap.config.EnvironmentAware;
import dev.tokentap.config.KafkaClients;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tokentap report}: invoice rows from the hourly topic. Reads every committed record ({@code read_committed})
 * that can hold an hour of the range, final and late, and prints their sums per group as CSV or JSON; the sums are
 * exactly those of the records. The worked example of a billing consumer (docs/billing.md).
 */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Print invoice rows (requests, tokens by kind, audio seconds, cost) per client and model from "
                + "the hourly usage topic, for the hours from --from up to --to.")
final class ReportCommand implements Callable<Integer>, EnvironmentAware {

    static final Duration POLL = Duration.ofMillis(500);
    static final Duration DEADLINE = Duration.ofMinutes(5);

    @Spec
    CommandSpec spec;

    @EnvAlias("KAFKA_BOOTSTRAP_SERVERS")
    @Option(names = "--kafka", paramLabel = "HOST:PORT,…", defaultValue = KafkaClients.DEFAULT_BOOTSTRAP,
            description = "Kafka bootstrap servers")
    String kafka;

    @Option(names = "--hourly-topic", paramLabel = "NAME", defaultValue = Topics.HOURLY,
            description = "the hourly topic")
    String topic;

    @Option(names = "--from", paramLabel = "TIME", required = true,
            description = "first hour, inclusive: RFC 3339 (2026-05-01T00:00:00Z) or a date, midnight UTC")
    String from;

    @Option(names = "--to", paramLabel = "TIME", required = true,
            description = "end, exclusive: RFC 3339 or a date (midnight UTC)")
    String to;

    @Option(names = "--group-by", paramLabel = "COLUMN,…", defaultValue = "client_name,model", split = ",",
            description = "columns to sum by: namespace, client_name, model, route")
    List<String> groupBy;

    @Option(names = "--format", paramLabel = "csv|json", defaultValue = "csv", description = "csv or json")
    String format;

    @Option(names = "--group-id", paramLabel = "GROUP",
            description = "a consumer group to read in, for ACLs such as tokentap-billing-*; no offsets are committed")
    String groupId;

    private Map<String, String> kafkaProperties = Map.of();

    @Override
    public void environment(Map<String, String> env) {
        kafkaProperties = Environment.kafkaProperties(env);
    }

    @Override
    public Integer call() {
        long start = time(from, "--from");
        long end = time(to, "--to");
        if (end <= start) {
            throw new IllegalArgumentException("--to must be after --from");
        }
        if (!format.equals("csv") && !format.equals("json")) {
            throw new IllegalArgumentException("--format is csv or json, not '" + format + "'");
        }
        InvoiceRows rows = new InvoiceRows(start, end, groupBy.stream().map(String::trim).toList());
        HourlyUsageCodec codec = new HourlyUsageCodec();
        long skipped = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProperties(),
                new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            if (partitions.isEmpty()) {
                throw new IllegalStateException("no topic " + topic + " on " + kafka);
            }
            consumer.assign(partitions);
            // a record of an hour is written after the hour ends: nothing before --from can hold one of the range
            Map<TopicPartition, Long> at = new HashMap<>();
            partitions.forEach(p -> at.put(p, start));
            Map<TopicPartition, OffsetAndTimestamp> offsets = consumer.offsetsForTimes(at, Duration.ofSeconds(30));
            // read_committed: the end is the last stable offset, what is committed now
            Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, Duration.ofSeconds(30));
            for (TopicPartition p : partitions) {
                OffsetAndTimestamp o = offsets.get(p);
                consumer.seek(p, o == null ? ends.get(p) : o.offset());
            }
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (!caughtUp(consumer, partitions, ends)) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the hourly topic was not read to its end within " + DEADLINE);
                }
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
                    try {
                        rows.add(codec.decode(record.value()));
                    } catch (UsageEventDecodeException e) {
                        skipped++;
                    }
                }
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(format.equals("json") ? rows.json() : rows.csv());
        out.flush();
        if (skipped > 0 || rows.duplicates() > 0) {
            spec.commandLine().getErr().printf("tokentap report: skipped %d unreadable and %d repeated records%n",
                    skipped, rows.duplicates());
        }
        return 0;
    }

    private static boolean caughtUp(KafkaConsumer<?, ?> consumer, List<TopicPartition> partitions,
                                    Map<TopicPartition, Long> ends) {
        for (TopicPartition p : partitions) {
            if (consumer.position(p) < ends.get(p)) {
                return false;
            }
        }
        return true;
    }

    private Map<String, Object> consumerProperties() {
        Map<String, Object> props = new HashMap<>(kafkaProperties);
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "tokentap-report");
        if (groupId != null) {
            props.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        }
        return props;
    }

    static long time(String text, String option) {
        String t = text.trim();
        try {
            if (t.length() == 10) {
                return LocalDate.parse(t).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
            }
            return OffsetDateTime.parse(t).toInstant().toEpochMilli();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(option + " is not a time: '" + text
                    + "' (RFC 3339, e.g. 2026-05-01T00:00:00Z, or a date)");
        }
    }

}
