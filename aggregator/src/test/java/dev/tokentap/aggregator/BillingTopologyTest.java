package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.aggregator.identity.IdentityResolver;
import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.aggregator.pricing.Prices;
import dev.tokentap.aggregator.topology.HourlyKey;
import dev.tokentap.aggregator.topology.UsageLabels;
import dev.tokentap.aggregator.topology.UsageSums;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.aggregator.topology.UsageTotals;
import dev.tokentap.event.CloudEventHeaders;
import dev.tokentap.event.EnrichedUsageEvent;
import dev.tokentap.event.EnrichedUsageEventCodec;
import dev.tokentap.event.HourlyUsage;
import dev.tokentap.event.HourlyUsageCodec;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The topology's billing branches, with the aggregator's own Streams properties: the cost at enrichment from the price
 * list, reasoning tokens and audio seconds in the totals, the hourly sums and their final and late records, closed by
 * the aggregator's clock.
 */
class BillingTopologyTest {

    static final long HOUR = Duration.ofHours(1).toMillis();
    /** 2026-03-01T10:00Z: the hour the events fall in. */
    static final long H = Instant.parse("2026-03-01T10:00:00Z").toEpochMilli();
    static final Duration GRACE = Duration.ofMinutes(10);
    static final String PRICES = """
            currency: USD
            prices:
              - model: llama
                effective_from: 2026-01-01
                prompt_per_million: 0.10
                cached_prompt_per_million: 0.025
                completion_per_million: "0.40"
              - model: llama
                effective_from: 2026-03-01T10:30:00Z
                prompt_per_million: 0.20
                completion_per_million: 0.80
              - model: "whisper-*"
                per_audio_second: 0.0001
            """;

    @TempDir
    Path dir;

    private final AtomicLong now = new AtomicLong(H + 59 * 60_000);
    private final Clock clock = new Clock() {
        @Override
        public long millis() {
            return now.get();
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(now.get());
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            throw new UnsupportedOperationException();
        }
    };
    private final AtomicInteger late = new AtomicInteger();
    private final AtomicInteger future = new AtomicInteger();
    private final UsageEventCodec codec = new UsageEventCodec();
    private TopologyTestDriver driver;
    private TestInputTopic<byte[], byte[]> usage;
    private TestOutputTopic<String, byte[]> hourly;
    private TestOutputTopic<String, byte[]> enriched;

    @BeforeEach
    void startDriver() throws Exception {
        Path prices = Files.writeString(dir.resolve("prices.yaml"), PRICES);
        AggregatorConfig config = AggregatorConfig.fromArgs("--state-dir", dir.resolve("state").toString(),
                "--prices", prices.toString(), "--hourly-grace", GRACE.toMinutes() + "m");
        driver = new TopologyTestDriver(UsageTopology.build(Topics.DEFAULT, PodDirectory.NONE,
                IdentityResolver.DEFAULT, clock, UsageTopology.Limits.DEFAULT, config.billing(),
                new UsageTopology.Observer() {
                    @Override
                    public void lateEvent() {
                        late.incrementAndGet();
                    }

                    @Override
                    public void futureEvent() {
                        future.incrementAndGet();
                    }
                }), Aggregator.streamsProperties(config.streams()));
        usage = driver.createInputTopic(Topics.USAGE, new ByteArraySerializer(), new ByteArraySerializer());
        hourly = driver.createOutputTopic(Topics.HOURLY, new StringDeserializer(), new ByteArrayDeserializer());
        enriched = driver.createOutputTopic(Topics.ENRICHED, new StringDeserializer(), new ByteArrayDeserializer());
    }

    @AfterEach
    void closeDriver() {
        driver.close();
    }

    @Test
    void shouldCostEachRequestAtThePriceInForceAtItsStartExactly() {
        // given a price change at 10:30: the first request before it, the second after it, a third of no price
        send(event("10.0.0.1", "llama", H + 60_000).promptTokens(1_000L).cachedTokens(400L).completionTokens(3L));
        send(event("10.0.0.1", "llama", H + 40 * 60_000).promptTokens(1_000L).cachedTokens(400L)
                .completionTokens(3L));
        send(event("10.0.0.1", "mystery", H + 60_000).promptTokens(10L).completionTokens(10L));
        send(event("10.0.0.2", "whisper-large-v3", H + 60_000).route("/v1/audio/transcriptions")
                .audioSeconds(12.5));

        // then the enriched records carry the exact cost, none for a model without price
        List<EnrichedUsageEvent> records = enriched.readValuesToList().stream()
                .map(new EnrichedUsageEventCodec()::decode).toList();
        // 600 × 0.10 + 400 × 0.025 + 3 × 0.40 per million = 0.0000712
        assertThat(records.get(0).cost().amount("USD")).isEqualByComparingTo("0.0000712");
        // the later price has no cached price: cached tokens cost the prompt price, 1000 × 0.20 + 3 × 0.80
        assertThat(records.get(1).cost().amount("USD")).isEqualByComparingTo("0.0002024");
        assertThat(records.get(2).cost()).isNull();
        assertThat(records.get(3).cost().amount("USD")).isEqualByComparingTo("0.00125");

        // and the totals hold the sums and the count of requests without a price
        KeyValueStore<UsageLabels, UsageTotals> totals = driver.getKeyValueStore(UsageTopology.TOTALS_STORE);
        UsageTotals llama = totals.get(new UsageLabels("unknown", "10.0.0.1", "/v1/chat/completions", "proxy",
                "llama"));
        assertThat(llama.cost().amount("USD")).isEqualByComparingTo("0.0002736");
        assertThat(llama.unpriced()).isZero();
        assertThat(totals.get(new UsageLabels("unknown", "10.0.0.1", "/v1/chat/completions", "proxy", "mystery"))
                .unpriced()).isEqualTo(1);
        assertThat(totals.get(new UsageLabels("unknown", "10.0.0.2", "/v1/audio/transcriptions", "proxy",
                "whisper-large-v3")).audioSeconds()).isEqualByComparingTo("12.5");
    }

    @Test
    void shouldCountReasoningTokensAndAudioSecondsInTheTotals() {
        send(event("10.0.0.1", "llama", H).completionTokens(50L).reasoningTokens(30L));
        send(event("10.0.0.1", "llama", H).completionTokens(5L).reasoningTokens(2L));
        send(event("10.0.0.1", "llama", H).audioSeconds(0.1));
        send(event("10.0.0.1", "llama", H).audioSeconds(0.2));

        UsageTotals t = driver.<UsageLabels, UsageTotals>getKeyValueStore(UsageTopology.TOTALS_STORE)
                .get(new UsageLabels("unknown", "10.0.0.1", "/v1/chat/completions", "proxy", "llama"));
        assertThat(t.reasoningTokens()).isEqualTo(32);
        // 0.1 + 0.2 as decimals, not as binary floats (which make 0.30000000000000004)
        assertThat(t.audioSeconds()).isEqualByComparingTo("0.3");
    }

    @Test
    void shouldWriteOneFinalRecordPerClientModelRouteAndHourOnceTheHourAndItsGraceHavePassed() {
        // given requests of two clients in hour H
        send(event("10.0.0.1", "llama", H + 60_000).promptTokens(10L).completionTokens(5L).totalTokens(15L)
                .cachedTokens(4L).reasoningTokens(2L));
        send(event("10.0.0.1", "llama", H + 50 * 60_000).promptTokens(1L).completionTokens(1L)
                .outcome("upstream_error"));
        send(event("10.0.0.2", "llama", H + 2 * 60_000).promptTokens(7L).completionTokens(0L));

        // when the hour has ended but its grace has not passed, nothing is written
        now.set(H + HOUR + GRACE.toMillis() - 1);
        driver.advanceWallClockTime(Duration.ofSeconds(10));
        assertThat(hourly.isEmpty()).isTrue();

        // when the grace has passed
        now.set(H + HOUR + GRACE.toMillis());
        driver.advanceWallClockTime(Duration.ofSeconds(10));

        // then one final record per client, exact, with its CloudEvents headers
        List<TestRecord<String, byte[]>> written = hourly.readRecordsToList();
        assertThat(written).hasSize(2);
        HourlyUsage first = new HourlyUsageCodec().decode(written.get(0).value());
        HourlyUsage one = first.clientName().equals("10.0.0.1") ? first
                : new HourlyUsageCodec().decode(written.get(1).value());
        assertThat(one.kind()).isEqualTo(HourlyUsage.FINAL);
        assertThat(one.hourStart()).isEqualTo(H);
        assertThat(one.hourEnd()).isEqualTo(H + HOUR);
        assertThat(one.model()).isEqualTo("llama");
        assertThat(one.route()).isEqualTo("/v1/chat/completions");
        assertThat(one.requests()).containsExactlyInAnyOrderEntriesOf(Map.of("ok", 1L, "upstream_error", 1L));
        assertThat(one.promptTokens()).isEqualTo(11);
        assertThat(one.completionTokens()).isEqualTo(6);
        assertThat(one.totalTokens()).isEqualTo(17);
        assertThat(one.cachedTokens()).isEqualTo(4);
        assertThat(one.reasoningTokens()).isEqualTo(2);
        assertThat(one.firstEventAt()).isEqualTo(H + 60_000);
        assertThat(one.lastEventAt()).isEqualTo(H + 50 * 60_000);
        assertThat(one.closedAt()).isEqualTo(H + HOUR + GRACE.toMillis());
        // 6 × 0.10 + 4 × 0.025 + 5 × 0.40 (before 10:30), then 1 × 0.20 + 1 × 0.80 (after), per million
        assertThat(one.cost().amount("USD")).isEqualByComparingTo("0.0000037");
        TestRecord<String, byte[]> record = written.get(first == one ? 0 : 1);
        assertThat(record.key()).isEqualTo("10.0.0.1");
        assertThat(CloudEventHeaders.read(record.headers(), CloudEventHeaders.TYPE))
                .isEqualTo("dev.tokentap.usage.hourly.v1");
        assertThat(CloudEventHeaders.read(record.headers(), CloudEventHeaders.ID)).isEqualTo(one.recordId());

        // and never again, however often the aggregator looks
        now.addAndGet(HOUR);
        driver.advanceWallClockTime(Duration.ofSeconds(30));
        assertThat(hourly.isEmpty()).isTrue();
    }

    @Test
    void shouldCountAnEventOfAClosedHourInALateRecordAndStillInTheSums() {
        // given hour H closed with one request
        send(event("10.0.0.1", "llama", H + 60_000).promptTokens(10L).completionTokens(5L));
        now.set(H + HOUR + GRACE.toMillis());
        driver.advanceWallClockTime(Duration.ofSeconds(10));
        assertThat(hourly.readValuesToList()).hasSize(1);

        // when two more requests of that hour arrive
        send(event("10.0.0.1", "llama", H + 59 * 60_000).promptTokens(100L).completionTokens(50L));
        send(event("10.0.0.1", "llama", H + 58 * 60_000).promptTokens(1L).completionTokens(1L));
        driver.advanceWallClockTime(Duration.ofSeconds(10));

        // then one late record counts them both, and only them
        List<HourlyUsage> lateRecords = hourly.readValuesToList().stream().map(new HourlyUsageCodec()::decode)
                .toList();
        assertThat(lateRecords).singleElement().satisfies(r -> {
            assertThat(r.kind()).isEqualTo(HourlyUsage.LATE);
            assertThat(r.hourStart()).isEqualTo(H);
            assertThat(r.promptTokens()).isEqualTo(101);
            assertThat(r.requestCount()).isEqualTo(2);
        });
        assertThat(late.get()).isEqualTo(2);
        // the window store the API reads has all three
        WindowStore<HourlyKey, UsageSums> sums = driver.getWindowStore(UsageTopology.HOURLY_STORE);
        assertThat(sums.fetch(new HourlyKey("unknown", "10.0.0.1", "llama", "/v1/chat/completions"), H)
                .promptTokens()).isEqualTo(111);
    }

    @Test
    void shouldCountAnEventFromAFarFutureClockInTheHourItWasReadAndCloseTheOthersAsUsual() {
        // given a proxy whose clock is ten years ahead, and one that is right
        send(event("10.0.0.9", "llama", H + Duration.ofDays(3650).toMillis()).promptTokens(5L));
        send(event("10.0.0.1", "llama", H + 60_000).promptTokens(1L));

        // when the hour of the aggregator's clock closes
        now.set(H + HOUR + GRACE.toMillis());
        driver.advanceWallClockTime(Duration.ofSeconds(10));

        // then both are in hour H: the future one did not open an hour ten years away, nor close anything early
        List<HourlyUsage> records = hourly.readValuesToList().stream().map(new HourlyUsageCodec()::decode).toList();
        assertThat(records).extracting(HourlyUsage::clientName).containsExactlyInAnyOrder("10.0.0.9", "10.0.0.1");
        assertThat(records).allSatisfy(r -> assertThat(r.hourStart()).isEqualTo(H));
        assertThat(records).filteredOn(r -> r.clientName().equals("10.0.0.9")).singleElement()
                .satisfies(r -> assertThat(r.firstEventAt()).isEqualTo(H + 59 * 60_000));
        assertThat(future.get()).isEqualTo(1);
        assertThat(late.get()).isZero();
    }

    @Test
    void shouldKeepAHourOpenWhenTheClockStepsBack() {
        send(event("10.0.0.1", "llama", H + 60_000).promptTokens(1L));
        now.set(H + HOUR + GRACE.toMillis());
        driver.advanceWallClockTime(Duration.ofSeconds(10));
        assertThat(hourly.readValuesToList()).hasSize(1);

        // the clock steps back an hour: hour H stays closed, an event of it is late, nothing is written twice
        now.set(H + 30 * 60_000);
        send(event("10.0.0.1", "llama", H + 20 * 60_000).promptTokens(1L));
        driver.advanceWallClockTime(Duration.ofSeconds(10));
        now.set(H + HOUR + GRACE.toMillis() + 60_000);
        driver.advanceWallClockTime(Duration.ofSeconds(10));

        assertThat(hourly.readValuesToList().stream().map(new HourlyUsageCodec()::decode).map(HourlyUsage::kind))
                .containsExactly(HourlyUsage.LATE);
    }

    private void send(UsageEvent.Builder event) {
        usage.pipeInput(event.build().clientAddress().getBytes(), codec.encode(event.build()));
    }

    private static UsageEvent.Builder event(String client, String model, long startedAt) {
        return UsageEvent.builder().eventId(UUID.randomUUID().toString()).route("/v1/chat/completions")
                .outcome("ok").status(200).model(model).clientAddress(client).proxyHost("proxy")
                .startedAt(startedAt).endedAt(startedAt + 100).usageSource("reported");
    }
}
