package dev.tokentap.aggregator.topology;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.aggregator.identity.IdentityResolver;
import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.aggregator.k8s.PodIdentity;
import dev.tokentap.aggregator.k8s.StaticPodDirectory;
import dev.tokentap.event.ClientIdentity;
import dev.tokentap.event.EnrichedUsageEvent;
import dev.tokentap.event.EnrichedUsageEventCodec;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.Topics;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import dev.tokentap.event.UsageEventDecodeException;
import dev.tokentap.event.UsageSource;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
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

class UsageTopologyTest {

    private static final UsageEventCodec CODEC = new UsageEventCodec();
    private static final Topics TOPICS = Topics.DEFAULT;

    @TempDir
    Path stateDir;

    static final String POD_IP = "10.42.0.50";
    static final PodIdentity RANKER = new PodIdentity("search", "ranker-7d9f8b6c5d-x2x7q", "Deployment", "ranker",
            "ranker-sa", "node-1", new TreeMap<>(Map.of("team", "search")));
    static final Clock CLOCK = Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC);

    static final Duration DEDUP_RETENTION = Duration.ofHours(1);
    static final long T0 = Instant.parse("2026-01-01T00:00:00Z").toEpochMilli();

    private final MutableClock clock = new MutableClock(T0);
    private final List<String> decodeFailures = new ArrayList<>();
    private final AtomicInteger duplicates = new AtomicInteger();
    private final UsageTopology.Observer observer = new UsageTopology.Observer() {
        @Override
        public void decodeFailure(String reason) {
            decodeFailures.add(reason);
        }

        @Override
        public void duplicate() {
            duplicates.incrementAndGet();
        }

        @Override
        public void invalidUsage(String reason) {
            invalidUsage.add(reason);
        }
    };
    private final List<String> invalidUsage = new ArrayList<>();
    private final EnrichedUsageEventCodec enrichedCodec = new EnrichedUsageEventCodec();
    private TestOutputTopic<String, byte[]> enriched;
    private TopologyTestDriver driver;
    private TestInputTopic<byte[], byte[]> usage;
    private TestOutputTopic<byte[], byte[]> dlq;
    private KeyValueStore<UsageLabels, UsageTotals> totals;

    @BeforeEach
    void startDriver() {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "usage-topology-test");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        driver = new TopologyTestDriver(UsageTopology.build(TOPICS, new StaticPodDirectory(Map.of(POD_IP, RANKER)),
                IdentityResolver.DEFAULT, clock, UsageTopology.Limits.DEFAULT.withDedupRetention(DEDUP_RETENTION),
                UsageTopology.Billing.DEFAULT, observer), props);
        enriched = driver.createOutputTopic(TOPICS.enriched(), new StringDeserializer(), new ByteArrayDeserializer());
        usage = driver.createInputTopic(TOPICS.usage(), new ByteArraySerializer(), new ByteArraySerializer());
        dlq = driver.createOutputTopic(TOPICS.dlq(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
        totals = driver.getKeyValueStore(UsageTopology.TOTALS_STORE);
    }

    @AfterEach
    void closeDriver() {
        driver.close();
    }

    @Test
    void shouldSumTokensOfEveryEventWithTheSameLabels() {
        // given
        send(event("10.0.0.1").promptTokens(10L).completionTokens(5L).totalTokens(15L).cachedTokens(4L));
        send(event("10.0.0.1").promptTokens(100L).completionTokens(50L).totalTokens(150L).cachedTokens(null));
        send(event("10.0.0.1").promptTokens(1L).completionTokens(2L).totalTokens(3L).cachedTokens(1L));

        // then
        UsageTotals t = totals.get(labels("10.0.0.1"));
        assertThat(t.promptTokens()).isEqualTo(111);
        assertThat(t.completionTokens()).isEqualTo(57);
        assertThat(t.totalTokens()).isEqualTo(168);
        assertThat(t.cachedTokens()).isEqualTo(5);
        assertThat(t.requests()).containsExactly(Map.entry(Outcome.OK, 3L));
        assertThat(dlq.isEmpty()).isTrue();
        assertThat(decodeFailures).isEmpty();
    }

    @Test
    void shouldTakePromptPlusCompletionWhenTotalIsNotReported() {
        send(event("10.0.0.1").promptTokens(7L).completionTokens(3L).totalTokens(null));
        send(event("10.0.0.1").promptTokens(null).completionTokens(null).totalTokens(null));

        UsageTotals t = totals.get(labels("10.0.0.1"));
        assertThat(t.totalTokens()).isEqualTo(10);
        assertThat(t.promptTokens()).isEqualTo(7);
        assertThat(t.requests(Outcome.OK)).isEqualTo(2);
    }

    @Test
    void shouldCountRequestsPerOutcomeWithUnknownOutcomesAsOther() {
        send(event("10.0.0.1").outcome(Outcome.OK));
        send(event("10.0.0.1").outcome(Outcome.OK));
        send(event("10.0.0.1").outcome(Outcome.UPSTREAM_ERROR));
        send(event("10.0.0.1").outcome(Outcome.CLIENT_ABORTED));
        send(event("10.0.0.1").outcome("eaten_by_a_grue"));
        send(event("10.0.0.1").outcome("cosmic_ray"));

        assertThat(totals.get(labels("10.0.0.1")).requests()).containsExactly(
                Map.entry(Outcome.CLIENT_ABORTED, 1L),
                Map.entry(Outcome.OK, 2L),
                Map.entry(UsageTotals.OTHER_OUTCOME, 2L),
                Map.entry(Outcome.UPSTREAM_ERROR, 1L));
    }

    @Test
    void shouldSendAnUndecodableRecordToTheDlqUnchangedWithTheReasonAndCountIt() {
        // given
        RecordHeaders headers = new RecordHeaders();
        headers.add("ce_id", "abc".getBytes(StandardCharsets.UTF_8));
        byte[] garbage = "{not json".getBytes(StandardCharsets.UTF_8);

        // when
        usage.pipeInput(new TestRecord<>("10.0.0.9".getBytes(StandardCharsets.UTF_8), garbage, headers));

        // then
        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(dead.key()).asString(StandardCharsets.UTF_8).isEqualTo("10.0.0.9");
        assertThat(dead.value()).isEqualTo(garbage);
        assertThat(header(dead, UsageTopology.DLQ_REASON_HEADER)).isEqualTo(UsageEventDecodeException.MALFORMED);
        assertThat(header(dead, "ce_id")).isEqualTo("abc");
        assertThat(dlq.isEmpty()).isTrue();
        assertThat(decodeFailures).containsExactly(UsageEventDecodeException.MALFORMED);
        assertThat(storeContents()).isEmpty();
    }

    @Test
    void shouldTellEachDecodeFailureReason() {
        usage.pipeInput("k".getBytes(StandardCharsets.UTF_8), new byte[0]);
        usage.pipeInput("k".getBytes(StandardCharsets.UTF_8), (byte[]) null);
        usage.pipeInput("k".getBytes(StandardCharsets.UTF_8), json("{\"event_id\":\"e1\",\"schema_version\":1}"));
        usage.pipeInput("k".getBytes(StandardCharsets.UTF_8), json("{\"event_id\":\"e1\",\"schema_version\":99,"
                + "\"route\":\"/v1/completions\",\"outcome\":\"ok\",\"status\":200}"));
        usage.pipeInput("k".getBytes(StandardCharsets.UTF_8), json("[1,2,3]"));

        assertThat(decodeFailures).containsExactly(UsageEventDecodeException.EMPTY, UsageEventDecodeException.EMPTY,
                UsageEventDecodeException.MISSING_FIELD, UsageEventDecodeException.UNSUPPORTED_VERSION,
                UsageEventDecodeException.MALFORMED);
        assertThat(dlq.readRecordsToList()).extracting(r -> header(r, UsageTopology.DLQ_REASON_HEADER))
                .containsExactlyElementsOf(decodeFailures);
    }

    @Test
    void shouldKeepCountingAfterAnUndecodableRecord() {
        send(event("10.0.0.1").promptTokens(1L));
        usage.pipeInput("10.0.0.1".getBytes(StandardCharsets.UTF_8), json("garbage"));
        send(event("10.0.0.1").promptTokens(2L));

        assertThat(totals.get(labels("10.0.0.1")).promptTokens()).isEqualTo(3);
        assertThat(dlq.getQueueSize()).isEqualTo(1);
    }

    @Test
    void shouldCountARequestWithInvalidUsageWithoutItsUsageAndSayWhy() {
        // given: counted usage, then events whose usage cannot be true, straight from the topic
        send(event("10.0.0.1").promptTokens(390L).completionTokens(10L).totalTokens(400L));
        List<String> bad = List.of("\"prompt_tokens\":-1000", "\"prompt_tokens\":1.5",
                "\"prompt_tokens\":\"abc\"", "\"prompt_tokens\":1e30", "\"total_tokens\":9223372036854775807",
                "\"usage_source\":\"invalid\",\"prompt_tokens\":5");

        // when
        for (String usage : bad) {
            this.usage.pipeInput(json("10.0.0.1"), json("{\"event_id\":\"" + UUID.randomUUID()
                    + "\",\"schema_version\":1,\"route\":\"/v1/chat/completions\",\"outcome\":\"ok\","
                    + "\"status\":200,\"model\":\"llama\",\"client_address\":\"10.0.0.1\","
                    + "\"proxy_host\":\"proxy-a\",\"completion_tokens\":10," + usage + "}"));
        }

        // then: every request is counted, not one of their tokens, and nothing went to the DLQ
        UsageTotals t = totals.get(labels("10.0.0.1"));
        assertThat(t.requests(Outcome.OK)).isEqualTo(1 + bad.size());
        assertThat(t.promptTokens()).isEqualTo(390);
        assertThat(t.completionTokens()).isEqualTo(10);
        assertThat(t.totalTokens()).isEqualTo(400);
        assertThat(invalidUsage).containsExactly(UsageValues.NEGATIVE, UsageValues.FRACTIONAL,
                UsageValues.NOT_A_NUMBER, UsageValues.TOO_LARGE, UsageValues.TOO_LARGE, UsageValues.FLAGGED);
        assertThat(dlq.isEmpty()).isTrue();
        // the enriched records carry each request, marked invalid and without usage values
        List<UsageEvent> out = enriched.readValuesToList().stream().map(v -> enrichedCodec.decode(v).event())
                .toList();
        assertThat(out).hasSize(1 + bad.size());
        assertThat(out.subList(1, out.size())).allSatisfy(e -> {
            assertThat(e.usageSource()).isEqualTo(UsageValues.INVALID_SOURCE);
            assertThat(e.promptTokens()).isNull();
            assertThat(e.completionTokens()).isNull();
            assertThat(e.totalTokens()).isNull();
            assertThat(e.model()).isEqualTo("llama");
        });
    }

    @Test
    void shouldReportAnUnknownRouteAsOther() {
        send(event("10.0.0.1").route("/v1/not-a-vllm-route").promptTokens(5L));
        send(event("10.0.0.1").route("/v1/completions?x=1").promptTokens(6L));
        send(event("10.0.0.1").route("/v1/chat/completions").promptTokens(7L));
        send(event("10.0.0.1").route("/v1/completions").promptTokens(8L));

        assertThat(storeContents()).extractingFromEntries(e -> e.getKey().fullPath(), e -> e.getValue().promptTokens())
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("/v1/chat/completions", 7L),
                        org.assertj.core.groups.Tuple.tuple("/v1/completions", 8L),
                        org.assertj.core.groups.Tuple.tuple(dev.tokentap.event.Routes.OTHER, 11L));
    }

    @Test
    void shouldLabelMissingValuesUnknown() {
        send(event(null).proxyHost(null).model(null).promptTokens(3L));

        UsageLabels unknown = new UsageLabels("unknown", "unknown", "/v1/chat/completions", "unknown", "unknown");
        assertThat(storeContents()).containsOnlyKeys(unknown);
        assertThat(totals.get(unknown).promptTokens()).isEqualTo(3);
    }

    @Test
    void shouldKeepDifferentLabelSetsApart() {
        send(event("10.0.0.1").promptTokens(1L));
        send(event("10.0.0.2").promptTokens(2L));
        send(event("10.0.0.1").model("other-model").promptTokens(4L));
        send(event("10.0.0.1").proxyHost("proxy-b").promptTokens(8L));
        send(event("10.0.0.1").route("/v1/completions").promptTokens(16L));
        send(event("10.0.0.1").promptTokens(32L));

        assertThat(storeContents()).hasSize(5);
        assertThat(totals.get(labels("10.0.0.1")).promptTokens()).isEqualTo(33);
        assertThat(totals.get(labels("10.0.0.2")).promptTokens()).isEqualTo(2);
        assertThat(totals.get(new UsageLabels("unknown", "10.0.0.1", "/v1/chat/completions", "proxy-a",
                "other-model")).promptTokens()).isEqualTo(4);
        assertThat(totals.get(new UsageLabels("unknown", "10.0.0.1", "/v1/chat/completions", "proxy-b",
                "llama")).promptTokens()).isEqualTo(8);
        assertThat(totals.get(new UsageLabels("unknown", "10.0.0.1", "/v1/completions", "proxy-a",
                "llama")).promptTokens()).isEqualTo(16);
    }

    @Test
    void shouldKeyByLabelsWhateverTheRecordKey() {
        // the proxy keys by client address, but a record's key is not trusted: the labels decide
        usage.pipeInput("someone-else".getBytes(StandardCharsets.UTF_8),
                CODEC.encode(event("10.0.0.1").promptTokens(1L).build()));
        usage.pipeInput((byte[]) null, CODEC.encode(event("10.0.0.1").promptTokens(2L).build()));

        assertThat(storeContents()).containsOnlyKeys(labels("10.0.0.1"));
        assertThat(totals.get(labels("10.0.0.1")).promptTokens()).isEqualTo(3);
    }

    @Test
    void shouldKeepTotalsInAPersistentStoreWithAChangelog() {
        assertThat(totals.persistent()).isTrue();
        String description = UsageTopology.build(TOPICS, PodDirectory.NONE, IdentityResolver.DEFAULT, CLOCK,
                UsageTopology.Limits.DEFAULT, UsageTopology.Billing.DEFAULT, UsageTopology.Observer.NONE).describe().toString();
        assertThat(description).contains(UsageTopology.TOTALS_STORE)
                .contains(UsageTopology.BY_LABELS + "-repartition");
    }

    @Test
    void shouldWriteOneEnrichedRecordPerEventKeyedByClientName() {
        // given an event from a caller that is no known pod
        UsageEvent event = event("10.0.0.1").promptTokens(3L).build();

        // when
        usage.pipeInput("10.0.0.1".getBytes(StandardCharsets.UTF_8), CODEC.encode(event));

        // then the enriched record is the event, named by its address in no namespace
        TestRecord<String, byte[]> out = enriched.readRecord();
        assertThat(out.key()).isEqualTo("10.0.0.1");
        EnrichedUsageEvent read = enrichedCodec.decode(out.value());
        assertThat(read.event()).isEqualTo(event);
        assertThat(read.client()).isEqualTo(new ClientIdentity(ClientIdentity.UNKNOWN, null, null, null, null, null,
                null, null, "10.0.0.1", ClientIdentity.SOURCE_ADDRESS));
        assertThat(enriched.isEmpty()).isTrue();
    }

    @Test
    void shouldNameAPodsCallerByItsWorkloadInItsNamespace() {
        // when
        send(event(POD_IP).promptTokens(5L).completionTokens(2L).totalTokens(7L));

        // then the totals count under the workload, and the enriched record carries every pod signal
        UsageLabels byWorkload = new UsageLabels("search", "ranker", "/v1/chat/completions", "proxy-a", "llama");
        assertThat(storeContents()).containsOnlyKeys(byWorkload);
        assertThat(totals.get(byWorkload).totalTokens()).isEqualTo(7);
        TestRecord<String, byte[]> out = enriched.readRecord();
        assertThat(out.key()).isEqualTo("ranker");
        assertThat(enrichedCodec.decode(out.value()).client()).isEqualTo(new ClientIdentity("search",
                "ranker-7d9f8b6c5d-x2x7q", "Deployment", "ranker", "ranker-sa", "node-1",
                new TreeMap<>(Map.of("team", "search")), null, "ranker", ClientIdentity.SOURCE_WORKLOAD));
    }

    @Test
    void shouldBillAPodsCallerToItsWorkloadWhateverTenantItSends() {
        send(event(POD_IP).tenant("team-victim").promptTokens(1L));

        assertThat(storeContents()).containsOnlyKeys(
                new UsageLabels("search", "ranker", "/v1/chat/completions", "proxy-a", "llama"));
        EnrichedUsageEvent out = enrichedCodec.decode(enriched.readRecord().value());
        assertThat(out.client().clientNameSource()).isEqualTo(ClientIdentity.SOURCE_WORKLOAD);
        assertThat(out.event().tenant()).isEqualTo("team-victim");
    }

    @Test
    void shouldNameACallerNoPodHeldByItsTenant() {
        send(event("10.9.9.9").tenant("team-search").promptTokens(1L));

        assertThat(storeContents()).containsOnlyKeys(
                new UsageLabels(UsageLabels.UNKNOWN, "team-search", "/v1/chat/completions", "proxy-a", "llama"));
    }

    @Test
    void shouldFoldClientsBeyondTheSeriesCapIntoOtherWhateverTenantsArrive() {
        // given: 1,000 distinct tenants, as a gateway (or a proxy trusting any peer) could send
        List<String> tenants = new ArrayList<>();
        for (int i = 0; i < 1_000; i++) {
            String tenant = "tenant-" + UUID.randomUUID();
            tenants.add(tenant);
            send(event("10.0.0.1").tenant(tenant).promptTokens(1L).completionTokens(0L).totalTokens(1L));
        }

        // then: the series stay at the cap plus "other", with not one token lost
        TreeMap<UsageLabels, UsageTotals> contents = storeContents();
        assertThat(contents.size()).as("label sets").isEqualTo(UsageTopology.DEFAULT_CLIENT_SERIES_CAP + 1);
        assertThat(contents.values().stream().mapToLong(UsageTotals::promptTokens).sum()).isEqualTo(1_000);
        assertThat(totals.get(new UsageLabels("unknown", "other", "/v1/chat/completions", "proxy-a", "llama"))
                .promptTokens()).isEqualTo(1_000 - UsageTopology.DEFAULT_CLIENT_SERIES_CAP);
        assertThat(contents.keySet()).extracting(UsageLabels::clientName).contains(tenants.get(0),
                tenants.get(UsageTopology.DEFAULT_CLIENT_SERIES_CAP - 1));
        // the enriched records keep every real name, and are keyed by it
        List<TestRecord<String, byte[]>> out = enriched.readRecordsToList();
        assertThat(out).extracting(TestRecord::key).containsExactlyElementsOf(tenants);
        assertThat(out).extracting(r -> enrichedCodec.decode(r.value()).client().clientName())
                .containsExactlyElementsOf(tenants);
        // the admitted set is persistent (changelogged), so a restart admits the same clients
        KeyValueStore<String, Long> admitted = driver.getKeyValueStore(UsageTopology.ADMITTED_CLIENTS_STORE);
        assertThat(admitted.persistent()).isTrue();
        int admittedCount = 0;
        try (var all = admitted.all()) {
            for (; all.hasNext(); all.next()) {
                admittedCount++;
            }
        }
        assertThat(admittedCount).isEqualTo(UsageTopology.DEFAULT_CLIENT_SERIES_CAP);
    }

    @Test
    void shouldCountAnUnknownCallerInTheUnknownNamespaceByAddress() {
        send(event("10.9.9.9").promptTokens(4L));

        assertThat(storeContents()).containsOnlyKeys(
                new UsageLabels(UsageLabels.UNKNOWN, "10.9.9.9", "/v1/chat/completions", "proxy-a", "llama"));
    }

    @Test
    void shouldNotWriteAnEnrichedRecordForAnUndecodableOne() {
        usage.pipeInput("10.0.0.9".getBytes(StandardCharsets.UTF_8), "{not json".getBytes(StandardCharsets.UTF_8));

        assertThat(dlq.readRecord()).isNotNull();
        assertThat(enriched.isEmpty()).isTrue();
    }

    @Test
    void shouldFoldModelsBeyondTheSeriesCapIntoOtherWhateverClientsSend() {
        // given: 10,000 distinct model names, as a hostile or buggy client could send
        java.util.Random random = new java.util.Random(42);
        List<UsageEvent> sent = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            UsageEvent e = event("10.0.0.1").model("model-" + Long.toHexString(random.nextLong()) + "-" + i)
                    .promptTokens(1L).completionTokens(0L).totalTokens(1L).build();
            sent.add(e);
            usage.pipeInput("10.0.0.1".getBytes(StandardCharsets.UTF_8), CODEC.encode(e));
        }

        // then: at most the cap plus "other", and not one token lost
        TreeMap<UsageLabels, UsageTotals> contents = storeContents();
        assertThat(contents).hasSize(UsageTopology.DEFAULT_MODEL_SERIES_CAP + 1);
        assertThat(contents.keySet()).extracting(UsageLabels::model).contains("other");
        assertThat(contents.values().stream().mapToLong(UsageTotals::promptTokens).sum()).isEqualTo(10_000);
        assertThat(totals.get(new UsageLabels("unknown", "10.0.0.1", "/v1/chat/completions", "proxy-a", "other"))
                .promptTokens()).isEqualTo(10_000 - UsageTopology.DEFAULT_MODEL_SERIES_CAP);
        // the first models keep their own series, and the enriched topic still carries every real value
        assertThat(contents.keySet()).extracting(UsageLabels::model).contains(sent.get(0).model(),
                sent.get(UsageTopology.DEFAULT_MODEL_SERIES_CAP - 1).model());
        assertThat(enriched.readValuesToList().stream().map(v -> enrichedCodec.decode(v).event().model()))
                .containsExactlyElementsOf(sent.stream().map(UsageEvent::model).toList());
    }

    @Test
    void shouldKeepCountingAnAdmittedModelUnderItsOwnNameAfterTheCapIsReached() {
        TopologyTestDriver small = new TopologyTestDriver(UsageTopology.build(TOPICS, PodDirectory.NONE,
                IdentityResolver.DEFAULT, CLOCK, UsageTopology.Limits.DEFAULT.withModelSeriesCap(2),
                UsageTopology.Billing.DEFAULT, UsageTopology.Observer.NONE), props("small"));
        try (small) {
            TestInputTopic<byte[], byte[]> in = small.createInputTopic(TOPICS.usage(), new ByteArraySerializer(),
                    new ByteArraySerializer());
            for (String model : List.of("a", "b", "c", "a", "d", "b")) {
                in.pipeInput((byte[]) null, CODEC.encode(event("10.0.0.1").model(model).build()));
            }
            KeyValueStore<UsageLabels, UsageTotals> store = small.getKeyValueStore(UsageTopology.TOTALS_STORE);
            KeyValueStore<String, Long> admitted = small.getKeyValueStore(UsageTopology.ADMITTED_MODELS_STORE);

            assertThat(store.get(withModel("a")).requestCount()).isEqualTo(2);
            assertThat(store.get(withModel("b")).requestCount()).isEqualTo(2);
            assertThat(store.get(withModel("other")).requestCount()).isEqualTo(2);
            assertThat(store.get(withModel("c"))).isNull();
            // the admitted set is persistent (changelogged), so a restart admits the same models
            assertThat(admitted.persistent()).isTrue();
            assertThat(admitted.get("a")).isNotNull();
            assertThat(admitted.get("c")).isNull();
        }
    }

    @Test
    void shouldCountRequestDurationAndTimeToFirstTokenInFixedBuckets() {
        send(event("10.0.0.1").stream(true).startedAt(1_000L).firstByteAt(1_040L).endedAt(1_900L));
        send(event("10.0.0.1").stream(true).startedAt(1_000L).firstByteAt(1_300L).endedAt(400_000L));
        // a JSON body's first byte is the whole answer, not a first token
        send(event("10.0.0.1").stream(false).startedAt(1_000L).firstByteAt(1_500L).endedAt(1_500L));

        UsageTotals t = totals.get(labels("10.0.0.1"));
        assertThat(t.duration().total()).isEqualTo(3);
        assertThat(t.duration().sumMillis()).isEqualTo(900 + 399_000 + 500);
        // 0.9 s ≤ 1 s; 0.5 s ≤ 0.5 s; 399 s ≤ 600 s
        assertThat(t.duration().count(4)).isEqualTo(1);
        assertThat(t.duration().count(3)).isEqualTo(1);
        assertThat(t.duration().count(12)).isEqualTo(1);
        assertThat(t.ttft().total()).isEqualTo(2);
        assertThat(t.ttft().count(2)).isEqualTo(1);
        assertThat(t.ttft().count(5)).isEqualTo(1);
        assertThat(t.ttft().sumMillis()).isEqualTo(340);
    }

    private Properties props(String id) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, id);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.resolve(id).toString());
        return props;
    }

    private static UsageLabels withModel(String model) {
        return new UsageLabels("unknown", "10.0.0.1", "/v1/chat/completions", "proxy-a", model);
    }

    @Test
    void shouldCountAnEventPublishedTwiceOnceAndCountTheCopy() {
        // given: a replay after a lost acknowledgement sends the very same event again
        UsageEvent.Builder once = event("10.0.0.1").startedAt(T0).promptTokens(10L).completionTokens(5L)
                .totalTokens(15L);

        // when
        send(once);
        send(once);

        // then
        UsageTotals t = totals.get(labels("10.0.0.1"));
        assertThat(t.totalTokens()).isEqualTo(15);
        assertThat(t.requests()).containsExactly(Map.entry(Outcome.OK, 1L));
        assertThat(enriched.readRecordsToList()).hasSize(1);
        assertThat(duplicates).hasValue(1);
    }

    @Test
    void shouldDropACopyThatArrivesLateButWithinTheRetention() {
        UsageEvent.Builder first = event("10.0.0.1").startedAt(T0);
        send(first);
        clock.advance(Duration.ofMinutes(50));
        send(event("10.0.0.1").startedAt(T0 + Duration.ofMinutes(50).toMillis()));

        send(first);

        assertThat(totals.get(labels("10.0.0.1")).requests(Outcome.OK)).isEqualTo(2);
        assertThat(duplicates).hasValue(1);
    }

    @Test
    void shouldDropACopyWhateverItsRecordKeyAndTimestamp() {
        UsageEvent e = event("10.0.0.1").startedAt(T0).build();
        usage.pipeInput(new TestRecord<>(json("10.0.0.1"), CODEC.encode(e), Instant.ofEpochMilli(T0)));
        usage.pipeInput(new TestRecord<>(json("10.0.0.1"), CODEC.encode(e), Instant.ofEpochMilli(T0).plusSeconds(600)));

        assertThat(totals.get(labels("10.0.0.1")).requests(Outcome.OK)).isEqualTo(1);
        assertThat(duplicates).hasValue(1);
    }

    @Test
    void shouldKeepEventsWithDifferentIdsApartEvenWhenAlikeInEverythingElse() {
        send(event("10.0.0.1").startedAt(T0));
        send(event("10.0.0.1").startedAt(T0));

        assertThat(totals.get(labels("10.0.0.1")).requests(Outcome.OK)).isEqualTo(2);
        assertThat(duplicates).hasValue(0);
    }

    @Test
    void shouldForgetAnIdOnceTheAggregatorsOwnTimeIsWellPastTheRetention() {
        // the retention bounds the memory: a copy read after it is counted again, which is why the default is 24h
        UsageEvent.Builder first = event("10.0.0.1").startedAt(T0);
        send(first);
        clock.advance(DEDUP_RETENTION.multipliedBy(3));
        send(event("10.0.0.1").startedAt(T0));

        send(first);

        assertThat(totals.get(labels("10.0.0.1")).requests(Outcome.OK)).isEqualTo(3);
        assertThat(duplicates).hasValue(0);
    }

    @Test
    void shouldKeepDeduplicatingAfterAnEventFromAClockTenYearsAhead() {
        // given: one proxy's clock is ten years ahead, in the event and in the record's own timestamp
        long tenYearsAhead = T0 + Duration.ofDays(3653).toMillis();
        UsageEvent ahead = event("10.0.0.1").startedAt(tenYearsAhead).endedAt(tenYearsAhead + 500).build();
        usage.pipeInput(new TestRecord<>(json("10.0.0.1"), CODEC.encode(ahead), Instant.ofEpochMilli(tenYearsAhead)));

        // when: five later events from sound clocks are each published twice
        for (int i = 0; i < 5; i++) {
            clock.advance(Duration.ofSeconds(1));
            UsageEvent.Builder later = event("10.0.0.1").startedAt(clock.millis());
            send(later);
            send(later);
        }

        // then: each counted once, and every copy dropped
        assertThat(totals.get(labels("10.0.0.1")).requests(Outcome.OK)).isEqualTo(6);
        assertThat(duplicates).hasValue(5);
        assertThat(enriched.readRecordsToList()).hasSize(6);
    }

    @Test
    void shouldCountTwoCopiesOfAThreeDayOldEventOnce() {
        // given: an event three days old, well past the retention, as a spool replayed after a long outage
        long threeDaysAgo = T0 - Duration.ofDays(3).toMillis();
        send(event("10.0.0.1").startedAt(T0));
        UsageEvent old = event("10.0.0.1").startedAt(threeDaysAgo).endedAt(threeDaysAgo + 800).build();

        // when: both of its copies arrive, with the record timestamps of the day they were first sent
        usage.pipeInput(new TestRecord<>(json("10.0.0.1"), CODEC.encode(old), Instant.ofEpochMilli(threeDaysAgo)));
        clock.advance(Duration.ofSeconds(2));
        usage.pipeInput(new TestRecord<>(json("10.0.0.1"), CODEC.encode(old), Instant.ofEpochMilli(threeDaysAgo)));

        // then
        assertThat(totals.get(labels("10.0.0.1")).requests(Outcome.OK)).isEqualTo(2);
        assertThat(duplicates).hasValue(1);
    }

    @Test
    void shouldStampEveryRecordWithTheAggregatorsOwnTime() {
        UsageEvent ahead = event("10.0.0.1").startedAt(T0 + Duration.ofDays(3653).toMillis()).build();
        usage.pipeInput(new TestRecord<>(json("10.0.0.1"), CODEC.encode(ahead),
                Instant.ofEpochMilli(T0).plus(Duration.ofDays(3653))));

        assertThat(enriched.readRecord().timestamp()).isEqualTo(T0);
    }

    @Test
    void shouldGiveTheIdStoreOfATaskWithoutEventsOneEntryThatNeverMatchesAnEvent() {
        // given a task that has seen no event: its id store has no segment to keep its committed offset in
        WindowStore<String, Long> ids = driver.getWindowStore(UsageTopology.EVENT_IDS_STORE);
        assertThat(ids.all().hasNext()).isFalse();

        // when it has run for a moment
        driver.advanceWallClockTime(EventDeduplicator.MARKER_DELAY.plusMillis(1));

        // then the store holds the marker, filed at time 0, and events are counted and de-duplicated as ever
        assertThat(ids.fetch(EventDeduplicator.SEGMENT_MARKER, 0L)).isZero();
        UsageEvent.Builder once = event("10.0.0.1").startedAt(T0);
        send(once);
        send(once);
        assertThat(totals.get(labels("10.0.0.1")).requests(Outcome.OK)).isEqualTo(1);
        assertThat(duplicates).hasValue(1);
    }

    @Test
    void shouldKeepEventIdsInAPersistentWindowStoreWithAChangelog() {
        var ids = driver.getWindowStore(UsageTopology.EVENT_IDS_STORE);
        assertThat(ids.persistent()).isTrue();
        String description = UsageTopology.build(TOPICS, PodDirectory.NONE, IdentityResolver.DEFAULT, CLOCK,
                UsageTopology.Limits.DEFAULT, UsageTopology.Billing.DEFAULT, UsageTopology.Observer.NONE).describe().toString();
        assertThat(description).contains(UsageTopology.EVENT_IDS_STORE);
    }

    private static UsageEvent.Builder response(String client, String id, boolean retrieval, String status,
                                               Long prompt, Long completion) {
        return event(client).route(retrieval ? "/v1/responses/{id}" : "/v1/responses")
                .method(retrieval ? "GET" : "POST").responseId(id).retrieval(retrieval).responseStatus(status)
                .background(id.contains("bg"))
                .promptTokens(prompt).completionTokens(completion)
                .totalTokens(prompt == null ? null : prompt + completion)
                .usageSource(prompt == null ? UsageSource.NONE : UsageSource.REPORTED);
    }

    private long responseTokens(String client) {
        long sum = 0;
        for (String route : List.of("/v1/responses", "/v1/responses/{id}")) {
            UsageTotals t = totals.get(new UsageLabels("unknown", client, route, "proxy-a", "llama"));
            sum += t == null ? 0 : t.totalTokens();
        }
        return sum;
    }

    private long responseRequests(String client) {
        long sum = 0;
        for (String route : List.of("/v1/responses", "/v1/responses/{id}")) {
            UsageTotals t = totals.get(new UsageLabels("unknown", client, route, "proxy-a", "llama"));
            sum += t == null ? 0 : t.requests(Outcome.OK);
        }
        return sum;
    }

    @Test
    void shouldCountAStoredResponseOnceHoweverOftenItIsReadBack() {
        // given a response created with its usage, then read back twice by two clients
        send(response("10.0.0.1", "resp_1", false, "completed", 12L, 8L));
        send(response("10.0.0.1", "resp_1", true, "completed", 12L, 8L));
        send(response("10.0.0.2", "resp_1", true, "completed", 12L, 8L));

        // then its tokens count once, and every read counts as a request
        assertThat(responseTokens("10.0.0.1") + responseTokens("10.0.0.2")).isEqualTo(20);
        assertThat(responseRequests("10.0.0.1") + responseRequests("10.0.0.2")).isEqualTo(3);
        List<UsageEvent> records = enriched.readValuesToList().stream()
                .map(bytes -> enrichedCodec.decode(bytes).event()).toList();
        assertThat(records).extracting(UsageEvent::usageSource)
                .containsExactly(UsageSource.REPORTED, UsageSource.COUNTED_BEFORE, UsageSource.COUNTED_BEFORE);
        assertThat(records.get(1).totalTokens()).isNull();
    }

    @Test
    void shouldCountABackgroundResponseAtTheFirstReadThatShowsItsUsage() {
        // given a background response: created queued without usage, read queued, then completed twice
        send(response("10.0.0.1", "resp_bg", false, "queued", null, null));
        send(response("10.0.0.1", "resp_bg", true, "queued", null, null));
        send(response("10.0.0.1", "resp_bg", true, "in_progress", null, null));
        send(response("10.0.0.1", "resp_bg", true, "completed", 12L, 8L));
        send(response("10.0.0.1", "resp_bg", true, "completed", 12L, 8L));

        // then
        assertThat(responseTokens("10.0.0.1")).isEqualTo(20);
        assertThat(responseRequests("10.0.0.1")).isEqualTo(5);
    }

    @Test
    void shouldCountEveryCreationOfAResponseThatIsNoBackgroundOneEvenUnderAReusedId() {
        // a client may name its responses (request_id): each creation is a new response and counts
        send(response("10.0.0.1", "mine", false, "completed", 12L, 8L));
        send(response("10.0.0.1", "mine", false, "completed", 2L, 3L));
        send(response("10.0.0.1", "mine", true, "completed", 2L, 3L));

        assertThat(responseTokens("10.0.0.1")).isEqualTo(20 + 5);
    }

    @Test
    void shouldCountOnceWhateverOrderTheEventsOfAResponseArriveIn() {
        // a read overtakes the creation it follows (another client, another partition)
        send(response("10.0.0.2", "resp_x", true, "completed", 12L, 8L));
        send(response("10.0.0.1", "resp_x", false, "completed", 12L, 8L));
        // a background response's completed read overtakes its queued creation, and its stream's usage
        send(response("10.0.0.2", "resp_bg2", true, "completed", 12L, 8L));
        send(response("10.0.0.1", "resp_bg2", false, "queued", null, null));
        send(response("10.0.0.1", "resp_bg2", false, "completed", 12L, 8L));

        assertThat(responseTokens("10.0.0.1") + responseTokens("10.0.0.2")).isEqualTo(40);
    }

    @Test
    void shouldNeverCountThePartialUsageOfAReadBack() {
        send(response("10.0.0.1", "resp_bg_p", false, "queued", null, null));
        send(response("10.0.0.1", "resp_bg_p", true, "completed", 12L, 4L).usageSource(UsageSource.PARTIAL));
        send(response("10.0.0.1", "resp_bg_p", true, "completed", 12L, 8L));

        assertThat(responseTokens("10.0.0.1")).isEqualTo(20);
    }

    private void send(UsageEvent.Builder event) {
        UsageEvent e = event.build();
        byte[] key = e.clientAddress() == null ? null : e.clientAddress().getBytes(StandardCharsets.UTF_8);
        usage.pipeInput(key, CODEC.encode(e));
    }

    private TreeMap<UsageLabels, UsageTotals> storeContents() {
        TreeMap<UsageLabels, UsageTotals> all = new TreeMap<>();
        try (var it = totals.all()) {
            it.forEachRemaining((KeyValue<UsageLabels, UsageTotals> kv) -> all.put(kv.key, kv.value));
        }
        return all;
    }

    private static UsageEvent.Builder event(String client) {
        return UsageEvent.builder()
                .eventId(UUID.randomUUID().toString())
                .route("/v1/chat/completions")
                .method("POST")
                .status(200)
                .outcome(Outcome.OK)
                .model("llama")
                .clientAddress(client)
                .proxyHost("proxy-a")
                .promptTokens(1L)
                .completionTokens(1L)
                .totalTokens(2L);
    }

    private static UsageLabels labels(String client) {
        return new UsageLabels("unknown", client, "/v1/chat/completions", "proxy-a", "llama");
    }

    private static byte[] json(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String header(TestRecord<byte[], byte[]> record, String name) {
        var h = record.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
