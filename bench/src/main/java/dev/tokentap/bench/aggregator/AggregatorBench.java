package dev.tokentap.bench.aggregator;

import dev.tokentap.aggregator.Aggregator;
import dev.tokentap.aggregator.AggregatorConfig;
import dev.tokentap.aggregator.Streams;
import dev.tokentap.bench.ThreadCpu;
import dev.tokentap.config.Durations;
import dev.tokentap.config.Environment;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventSerde;
import dev.tokentap.testkit.io.Directories;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;

/**
 * The aggregator scenario of {@code tokentap bench}: how many usage events per second the aggregator counts from a
 * full usage log, and how long an event takes, at a steady rate, from being published to showing on
 * {@code /metrics}.
 *
 * <p>It runs everything in this JVM: an embedded Kafka broker and the production aggregator ({@link Aggregator},
 * {@code exactly_once_v2}, RocksDB, its default settings, Kubernetes off), both under a fresh directory in
 * {@link Settings#workDir()} that is deleted afterwards. First the usage topic (the aggregator's default partition
 * count) is filled with {@link Settings#prefillEvents()} events, sent with the proxy's producer settings and serde,
 * before the aggregator starts; the drain rate is measured from the first scrape of {@code /metrics} that shows
 * any event counted to the first that shows all of them, so start-up is reported apart. Then events are sent at
 * {@link Settings#steadyRate()} per second for {@link Settings#steadyDuration()} while {@code /metrics} is scraped
 * every {@link #LAG_POLL}; each event's lag runs from the moment it was handed to the producer to the answer of the
 * first scrape that shows it counted (see {@link LagRecorder}). Both phases end with an exact comparison of every
 * label set's requests and token sums with what was sent.
 */
public final class AggregatorBench {

    /** The aggregator's own commit interval, what the bench runs unless told otherwise. */
    private static final Duration DEFAULT_COMMIT_INTERVAL = Durations.parse(Streams.DEFAULT_COMMIT_INTERVAL);

    /** The drain rate the aggregator should sustain on one instance. */
    public static final double TARGET_EVENTS_PER_SECOND = 50_000;
    /** The 99th percentile of publish-to-{@code /metrics} lag it should keep at 1,000 events/s. */
    public static final long TARGET_LAG_P99_MICROS = 1_000_000;
    /** How often {@code /metrics} is scraped while events are sent at the steady rate: the lag's resolution. */
    public static final Duration LAG_POLL = Duration.ofMillis(50);
    /** How often {@code /metrics} is scraped during the drain, once the first event is counted. */
    public static final Duration DRAIN_POLL = Duration.ofMillis(250);
    /** How often it is scraped before the first event is counted, to time start-up. */
    static final Duration STARTUP_POLL = Duration.ofMillis(50);
    /** A phase fails when the count has not moved for this long. */
    static final Duration STALL_TIMEOUT = Duration.ofSeconds(60);
    /**
     * How long start-up may take to the first event counted: longer than a stall, since on a loaded machine the first
     * stage works through the full topic's backlog before the totals see anything ("The start-up pause").
     */
    static final Duration STARTUP_TIMEOUT = Duration.ofMinutes(5);
    /** The percentiles reported, as the keys of {@link Result#lagPercentilesMicros()}. */
    public static final List<Double> PERCENTILES = List.of(50.0, 90.0, 99.0, 99.9, 100.0);

    private static final long SEED = 20_251_122L;

    private AggregatorBench() {
    }

    /**
     * What to run.
     *
     * @param workDir        a directory for the broker's log and the aggregator's state; each run uses a fresh
     *                       subdirectory and deletes it at the end
     * @param prefillEvents  events in the usage log before the aggregator starts
     * @param steadyRate     events per second in the steady phase
     * @param steadyDuration how long the steady phase sends
     */
    public record Settings(Path workDir, int prefillEvents, int steadyRate, Duration steadyDuration,
                           Duration commitInterval, List<String> aggregatorArgs) {

        public Settings {
            Objects.requireNonNull(workDir, "workDir");
            Objects.requireNonNull(steadyDuration, "steadyDuration");
            Objects.requireNonNull(commitInterval, "commitInterval");
            aggregatorArgs = List.copyOf(aggregatorArgs);
            if (prefillEvents < 1 || steadyRate < 1 || steadyDuration.isNegative() || steadyDuration.isZero()) {
                throw new IllegalArgumentException("prefillEvents and steadyRate must be at least 1 and "
                        + "steadyDuration positive, got " + prefillEvents + ", " + steadyRate + ", " + steadyDuration);
            }
        }

        /** With the aggregator's default commit interval, the one users get. */
        public Settings(Path workDir, int prefillEvents, int steadyRate, Duration steadyDuration) {
            this(workDir, prefillEvents, steadyRate, steadyDuration, DEFAULT_COMMIT_INTERVAL, List.of());
        }

        /** The same run with another commit interval: an experiment, reported as such. */
        public Settings withCommitInterval(Duration interval) {
            return new Settings(workDir, prefillEvents, steadyRate, steadyDuration, interval, aggregatorArgs);
        }

        /**
         * The same run with more aggregator flags (such as {@code --stream-threads 2}): an experiment, reported as
         * such. Kafka Streams properties are passed the aggregator's way, as {@code TOKENTAP_KAFKA_*} variables of
         * the bench's environment.
         */
        public Settings withAggregatorArgs(List<String> args) {
            return new Settings(workDir, prefillEvents, steadyRate, steadyDuration, commitInterval, args);
        }

        /** 200,000 events to drain, then 1,000 events/s for 60 s: one to two minutes on an idle 2-core machine. */
        public static Settings defaults(Path workDir) {
            return new Settings(workDir, 200_000, 1_000, Duration.ofSeconds(60));
        }

        /**
         * 10,000 events, then 1,000 events/s for 3 s: a smoke run. The phases take seconds; start-up (broker,
         * Streams' first rebalance and first transaction) is most of its time.
         */
        public static Settings quick(Path workDir) {
            return new Settings(workDir, 10_000, 1_000, Duration.ofSeconds(3));
        }

        long steadyEvents() {
            return Math.max(1, steadyDuration.toMillis() * steadyRate / 1000);
        }
    }

    /**
     * What a run measured.
     *
     * @param prefillEvents          events in the log before the aggregator started
     * @param prefillSeconds         how long sending them took
     * @param partitions             partitions of the usage topic (the aggregator's default)
     * @param commitIntervalMillis   the aggregator's commit interval (its default); under exactly-once a counted
     *                               event becomes visible downstream only when its transaction commits
     * @param runningMillis          from starting the aggregator to Kafka Streams RUNNING
     * @param startupMillis          from starting the aggregator to the first scrape showing an event counted
     * @param drainEvents            events counted from that first scrape to the one showing all
     * @param drainSeconds           the time between those two scrapes
     * @param eventsPerSecond        {@code drainEvents / drainSeconds}
     * @param drainCpuMicrosPerEvent the JVM's CPU over the drain window per event drained, by thread group
     *                               ({@link DrainCpu}): stream threads, the broker's, the JIT's, the collector's
     * @param steadyRate             events per second asked for in the steady phase
     * @param steadyEvents           events sent in the steady phase
     * @param steadyAchievedRate     events per second actually sent
     * @param steadySendSlipMaxMicros the latest any event was sent after its scheduled time
     * @param lagPercentilesMicros   publish-to-{@code /metrics} lag at {@link #PERCENTILES} (keys {@code "50.0"} …
     *                               {@code "100.0"}), microseconds
     * @param lagMeanMicros          mean lag
     * @param lagSamples             events whose lag was recorded (all of the steady phase when it completed)
     * @param pollIntervalMillis     how often {@code /metrics} was scraped in the steady phase
     * @param scrapeMillisMean       mean duration of one scrape in the steady phase
     * @param scrapeMillisMax        longest scrape in the steady phase
     * @param series                 label sets on {@code /metrics} at the end
     * @param expectedEvents         events sent in all
     * @param countedEvents          requests on {@code /metrics} at the end
     * @param mismatchedSeries       label sets whose requests or token sums differ from what was sent
     * @param allCounted             every event counted exactly once: counts and every sum match
     * @param duplicates             {@code tokentap_aggregator_duplicates_total} at the end (should be 0)
     * @param decodeFailures         {@code tokentap_aggregator_decode_failures_total} at the end (should be 0)
     * @param sendFailures           events the producer failed to send (should be 0)
     * @param meetsThroughputTarget  {@code eventsPerSecond >= } {@link #TARGET_EVENTS_PER_SECOND}
     * @param meetsLagTarget         lag p99 {@code <=} {@link #TARGET_LAG_P99_MICROS}
     */
    public record Result(
            int prefillEvents,
            double prefillSeconds,
            int partitions,
            long commitIntervalMillis,
            long runningMillis,
            long startupMillis,
            long drainEvents,
            double drainSeconds,
            double eventsPerSecond,
            Map<String, Double> drainCpuMicrosPerEvent,
            int steadyRate,
            long steadyEvents,
            double steadyAchievedRate,
            long steadySendSlipMaxMicros,
            Map<String, Long> lagPercentilesMicros,
            double lagMeanMicros,
            long lagSamples,
            long pollIntervalMillis,
            double scrapeMillisMean,
            double scrapeMillisMax,
            int series,
            long expectedEvents,
            long countedEvents,
            int mismatchedSeries,
            boolean allCounted,
            long duplicates,
            long decodeFailures,
            long sendFailures,
            boolean meetsThroughputTarget,
            boolean meetsLagTarget) {
    }

    /** Runs the scenario and prints its table to {@code out}. */
    public static Result run(Settings settings, PrintStream out) throws Exception {
        Files.createDirectories(settings.workDir());
        Path runDir = Files.createTempDirectory(settings.workDir(), "aggregator-");
        int partitions = Streams.DEFAULT_TOPIC_PARTITIONS;
        long commitMillis = settings.commitInterval().toMillis();
        Map<String, String> kafkaProperties = Environment.kafkaProperties(System.getenv());
        boolean defaults = settings.commitInterval().equals(DEFAULT_COMMIT_INTERVAL)
                && settings.aggregatorArgs().isEmpty() && kafkaProperties.isEmpty();
        out.printf(Locale.ROOT, "aggregator: %,d events to drain, then %,d events/s for %d s "
                        + "(exactly_once_v2, RocksDB, %d partitions, commit interval %d ms; %s)%n",
                settings.prefillEvents(), settings.steadyRate(), settings.steadyDuration().toSeconds(), partitions,
                commitMillis, defaults ? "all defaults" : "EXPERIMENT: not the defaults, flags "
                        + settings.aggregatorArgs() + ", Kafka properties " + kafkaProperties);
        EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(runDir.resolve("kafka")).build();
        try {
            kafka.start();
            kafka.createTopic(Topics.USAGE, partitions);
            return run(settings, kafka.bootstrapServers(), runDir.resolve("state"), out);
        } finally {
            kafka.close();
            Directories.deleteRecursively(runDir);
        }
    }

    private static Result run(Settings settings, String bootstrap, Path stateDir, PrintStream out) throws Exception {
        int partitions = Streams.DEFAULT_TOPIC_PARTITIONS;
        long commitMillis = settings.commitInterval().toMillis();
        UsageEventMix mix = new UsageEventMix(SEED);
        UsageTally expected = new UsageTally();
        AtomicLong sendFailures = new AtomicLong();
        AtomicReference<Exception> firstFailure = new AtomicReference<>();
        Callback onSent = (metadata, failure) -> {
            if (failure != null) {
                sendFailures.incrementAndGet();
                firstFailure.compareAndSet(null, failure);
            }
        };

        try (KafkaProducer<String, UsageEvent> producer = producer(bootstrap)) {
            // phase 1: fill the log, then let the aggregator drain it
            long fillStart = System.nanoTime();
            for (int i = 0; i < settings.prefillEvents(); i++) {
                UsageEvent event = mix.next(System.currentTimeMillis());
                expected.add(event);
                producer.send(new ProducerRecord<>(Topics.USAGE, event.clientAddress(), event), onSent);
            }
            producer.flush();
            double fillSeconds = (System.nanoTime() - fillStart) / 1e9;
            if (sendFailures.get() > 0) {
                throw new IllegalStateException("could not fill the usage topic: " + sendFailures.get()
                        + " sends failed", firstFailure.get());
            }
            out.printf(Locale.ROOT, "  pre-fill    %,d events sent in %.1f s (%,.0f/s)%n", settings.prefillEvents(),
                    fillSeconds, settings.prefillEvents() / fillSeconds);

            List<String> args = new ArrayList<>(List.of("--kafka", bootstrap, "--listen", "127.0.0.1",
                    "--port", "0", "--state-dir", stateDir.toString(), "--kubernetes", "off",
                    "--commit-interval", settings.commitInterval().toMillis() + "ms"));
            args.addAll(settings.aggregatorArgs());
            Map<String, String> kafkaEnvironment = new HashMap<>();
            System.getenv().forEach((name, value) -> {
                if (name.startsWith(Environment.KAFKA_PREFIX)) {
                    kafkaEnvironment.put(name, value);
                }
            });
            AggregatorConfig config = AggregatorConfig.fromArgs(args.toArray(String[]::new), kafkaEnvironment);
            long started = System.nanoTime();
            try (Aggregator aggregator = Aggregator.start(config)) {
                MetricsPoller poller = new MetricsPoller(aggregator.port());
                Drain drain = drain(aggregator, poller, expected.requests(), started);
                MetricsPoller.Scrape afterDrain = poller.scrape();
                UsageTally drained = afterDrain.usage();
                List<String> drainDifferences = expected.differences(drained);
                out.printf(Locale.ROOT, "  start-up    %.1f s to RUNNING, %.1f s to the first event counted%n",
                        drain.runningMillis / 1e3, drain.startupMillis / 1e3);
                out.printf(Locale.ROOT, "  drain       %,d events in %.2f s: %,.0f events/s (target %,.0f: %s)%n",
                        drain.events, drain.seconds, drain.eventsPerSecond(), TARGET_EVENTS_PER_SECOND,
                        drain.eventsPerSecond() >= TARGET_EVENTS_PER_SECOND ? "met" : "missed");
                drain.cpu.print(out);
                out.printf(Locale.ROOT, "  window      %s to %s (for a flight recording of the same run)%n",
                        Instant.ofEpochMilli(drain.startEpochMillis), Instant.ofEpochMilli(drain.endEpochMillis));
                out.printf(Locale.ROOT, "  counted     %s%n", drainDifferences.isEmpty()
                        ? String.format(Locale.ROOT, "exactly: %,d events, %d label sets, every sum equal",
                        drained.requests(), drained.series().size())
                        : drainDifferences.size() + " label sets differ, e.g. " + drainDifferences.get(0));

                // phase 2: a steady rate, /metrics scraped at a fixed interval
                Steady steady = steady(settings, mix, expected, producer, onSent, poller, drained);

                MetricsPoller.Scrape last = poller.scrape();
                UsageTally end = last.usage();
                List<String> differences = expected.differences(end);
                Histogram lag = steady.lag.histogram();
                Map<String, Long> percentiles = new LinkedHashMap<>();
                for (double p : PERCENTILES) {
                    percentiles.put(Double.toString(p), lag.getTotalCount() == 0 ? 0 : lag.getValueAtPercentile(p));
                }
                boolean allCounted = differences.isEmpty() && drainDifferences.isEmpty()
                        && steady.lag.attributed() == steady.sent && steady.lag.overcounted() == 0;
                Result result = new Result(
                        settings.prefillEvents(), fillSeconds, partitions, commitMillis,
                        drain.runningMillis, drain.startupMillis, drain.events, drain.seconds, drain.eventsPerSecond(),
                        drain.cpu.microsPerEvent(), settings.steadyRate(), steady.sent, steady.achievedRate,
                        steady.slipMaxMicros,
                        percentiles, lag.getTotalCount() == 0 ? 0 : lag.getMean(), lag.getTotalCount(),
                        LAG_POLL.toMillis(), steady.scrapeMillis[0], steady.scrapeMillis[1],
                        end.series().size(), expected.requests(), end.requests(), differences.size(), allCounted,
                        last.counter("tokentap_aggregator_duplicates_total"),
                        last.counter("tokentap_aggregator_decode_failures_total"), sendFailures.get(),
                        drain.eventsPerSecond() >= TARGET_EVENTS_PER_SECOND,
                        lag.getTotalCount() > 0 && percentiles.get("99.0") <= TARGET_LAG_P99_MICROS);
                printSteady(result, steady, differences, out);
                return result;
            }
        }
    }

    /** The drain phase as measured. */
    private record Drain(long runningMillis, long startupMillis, long events, double seconds, DrainCpu cpu,
                         long startEpochMillis, long endEpochMillis) {
        double eventsPerSecond() {
            return seconds > 0 ? events / seconds : 0;
        }
    }

    /**
     * Scrapes until every one of {@code total} events is counted: often until the first is (start-up), then every
     * {@link #DRAIN_POLL}. The rate is taken between the first scrape showing any count and the first showing all.
     */
    private static Drain drain(Aggregator aggregator, MetricsPoller poller, long total, long startedNanos)
            throws Exception {
        long runningNanos = -1;
        long firstNanos = -1;
        long firstEpochMillis = -1;
        Map<Long, ThreadCpu.Task> firstThreads = Map.of();
        long firstCount = 0;
        long lastCount = -1;
        long lastProgress = System.nanoTime();
        while (true) {
            if (runningNanos < 0 && aggregator.state() == KafkaStreams.State.RUNNING) {
                runningNanos = System.nanoTime();
            }
            MetricsPoller.Scrape scrape = poller.scrape();
            long counted = scrape.counter("vllm_requests_total");
            if (counted > 0 && firstNanos < 0) {
                firstThreads = DrainCpu.snapshot();
                firstEpochMillis = System.currentTimeMillis();
                firstNanos = scrape.answeredNanos();
                firstCount = counted;
                if (runningNanos < 0) {
                    runningNanos = firstNanos;
                }
            }
            if (counted >= total) {
                Map<Long, ThreadCpu.Task> lastThreads = DrainCpu.snapshot();
                long lastEpochMillis = System.currentTimeMillis();
                double seconds = (scrape.answeredNanos() - firstNanos) / 1e9;
                DrainCpu cpu = DrainCpu.between(firstThreads, lastThreads, seconds, counted - firstCount);
                return new Drain((runningNanos - startedNanos) / 1_000_000, (firstNanos - startedNanos) / 1_000_000,
                        counted - firstCount, seconds, cpu, firstEpochMillis, lastEpochMillis);
            }
            if (counted != lastCount) {
                lastCount = counted;
                lastProgress = System.nanoTime();
            } else if (System.nanoTime() - lastProgress > (firstNanos < 0 ? STARTUP_TIMEOUT : STALL_TIMEOUT)
                    .toNanos()) {
                throw new IllegalStateException("the aggregator counted " + counted + " of " + total
                        + " events and then nothing for " + (firstNanos < 0 ? STARTUP_TIMEOUT : STALL_TIMEOUT)
                        .toSeconds() + " s (streams state "
                        + aggregator.state() + ")");
            }
            Thread.sleep((firstNanos < 0 ? STARTUP_POLL : DRAIN_POLL).toMillis());
        }
    }

    /** The steady phase as measured. */
    private record Steady(long sent, double achievedRate, long slipMaxMicros, LagRecorder lag, double[] scrapeMillis) {
    }

    /**
     * Sends at the steady rate, each event at its scheduled instant, while another thread scrapes {@code /metrics}
     * every {@link #LAG_POLL} (at a fixed rate; a scrape that overruns delays the next) and attributes what it
     * sees; then waits for the last event to be counted.
     */
    private static Steady steady(Settings settings, UsageEventMix mix, UsageTally expected,
                                 KafkaProducer<String, UsageEvent> producer, Callback onSent, MetricsPoller poller,
                                 UsageTally before) throws Exception {
        LagRecorder lag = new LagRecorder(before);
        AtomicReference<Exception> pollFailure = new AtomicReference<>();
        ScheduledExecutorService scraper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-metrics-poller");
            t.setDaemon(true);
            return t;
        });
        poller.takeScrapeMillis();
        scraper.scheduleAtFixedRate(() -> {
            try {
                MetricsPoller.Scrape scrape = poller.scrape();
                lag.observed(scrape.usage(), scrape.answeredNanos());
            } catch (Exception e) {
                pollFailure.compareAndSet(null, e);
            }
        }, 0, LAG_POLL.toNanos(), TimeUnit.NANOSECONDS);

        long events = settings.steadyEvents();
        long intervalNanos = 1_000_000_000L / settings.steadyRate();
        long slipMax = 0;
        long start = System.nanoTime();
        double achieved;
        try {
            for (long i = 0; i < events; i++) {
                long due = start + i * intervalNanos;
                long now;
                while ((now = System.nanoTime()) < due) {
                    LockSupport.parkNanos(due - now);
                }
                slipMax = Math.max(slipMax, now - due);
                UsageEvent event = mix.next(System.currentTimeMillis());
                expected.add(event);
                lag.published(UsageTally.seriesOf(event), System.nanoTime());
                producer.send(new ProducerRecord<>(Topics.USAGE, event.clientAddress(), event), onSent);
            }
            achieved = events / ((System.nanoTime() - start) / 1e9);

            long lastSeen = -1;
            long lastProgress = System.nanoTime();
            while (lag.attributed() < events) {
                if (pollFailure.get() != null) {
                    throw new IllegalStateException("scraping /metrics failed", pollFailure.get());
                }
                long seen = lag.attributed();
                if (seen != lastSeen) {
                    lastSeen = seen;
                    lastProgress = System.nanoTime();
                } else if (System.nanoTime() - lastProgress > STALL_TIMEOUT.toNanos()) {
                    break; // reported as not all counted
                }
                Thread.sleep(LAG_POLL.toMillis());
            }
        } finally {
            scraper.shutdownNow();
            scraper.awaitTermination(30, TimeUnit.SECONDS);
        }
        return new Steady(events, achieved, slipMax / 1_000, lag, poller.takeScrapeMillis());
    }

    private static void printSteady(Result r, Steady steady, List<String> differences, PrintStream out) {
        out.printf(Locale.ROOT, "  steady      %,d events at %,d/s (sent at %,.1f/s, latest send %.1f ms behind "
                        + "schedule)%n", r.steadyEvents(), r.steadyRate(), r.steadyAchievedRate(),
                r.steadySendSlipMaxMicros() / 1e3);
        Map<String, Long> p = r.lagPercentilesMicros();
        out.printf(Locale.ROOT, "  lag         publish to /metrics: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s "
                        + "(target p99 %s: %s)%n", ms(p.get("50.0")), ms(p.get("90.0")), ms(p.get("99.0")),
                ms(p.get("99.9")), ms(p.get("100.0")), ms(TARGET_LAG_P99_MICROS), r.meetsLagTarget() ? "met" : "missed");
        out.printf(Locale.ROOT, "  resolution  /metrics scraped every %d ms, a scrape took %.1f ms (mean), %.1f ms "
                        + "(max); a lag is the first answer showing the event, so at most one interval plus a "
                        + "scrape late%n", r.pollIntervalMillis(), r.scrapeMillisMean(), r.scrapeMillisMax());
        out.printf(Locale.ROOT, "  counted     %s; %,d of %,d events on /metrics in %d label sets, %d duplicates "
                        + "dropped, %d decode failures, %d send failures%n",
                r.allCounted() ? "exactly" : "NOT EXACTLY (" + differences.size() + " label sets differ"
                        + (differences.isEmpty() ? "" : ", e.g. " + differences.get(0)) + ", "
                        + steady.lag.overcounted() + " counted beyond those sent)",
                r.countedEvents(), r.expectedEvents(), r.series(), r.duplicates(), r.decodeFailures(),
                r.sendFailures());
    }

    private static String ms(long micros) {
        return String.format(Locale.ROOT, "%.0f ms", micros / 1e3);
    }

    /**
     * A producer like the proxy's publisher (idempotent, acks=all, lz4) but with a 5 ms linger instead of its 50 ms,
     * so that a measured lag starts close to when the event is published; the proxy's own linger comes on top.
     */
    private static KafkaProducer<String, UsageEvent> producer(String bootstrap) {
        Map<String, Object> props = new HashMap<>();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "tokentap-bench");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        return new KafkaProducer<>(props, new StringSerializer(), new UsageEventSerde().serializer());
    }

}
