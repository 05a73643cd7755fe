package dev.tokentap.aggregator;

import dev.tokentap.testkit.metrics.PrometheusText;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.aggregator.k8s.PodDirectory;
import dev.tokentap.aggregator.k8s.PodIdentity;
import dev.tokentap.aggregator.topology.UsageLabels;
import dev.tokentap.aggregator.topology.UsageTotals;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventDecodeException;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.Test;

class AggregatorMetricsTest {

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final AggregatorMetrics metrics = new AggregatorMetrics(registry);

    @Test
    void shouldServeTheUsageFamiliesFromTheTotalsWithTheirExactNames() {
        // given
        SortedMap<UsageLabels, UsageTotals> totals = new TreeMap<>();
        UsageLabels a = new UsageLabels("unknown", "10.0.0.1", "/v1/chat/completions", "proxy-a", "llama");
        totals.put(a, UsageTotals.EMPTY
                .add(event("ok", 10, 5, 3))
                .add(event("ok", 20_000_000, 7, 0))
                .add(event("upstream_error", 0, 0, 0)));
        metrics.bindUsageTotals(() -> Optional.of(totals));

        // when
        String text = metrics.scrape();

        // then
        Map<String, String> labels = Map.of("namespace", "unknown", "client_name", "10.0.0.1",
                "full_path", "/v1/chat/completions", "hostname", "proxy-a", "model", "llama");
        PrometheusText parsed = PrometheusText.parse(text);
        assertThat(parsed.samples("vllm_prompt_tokens_total")).singleElement()
                .satisfies(s -> assertThat(s.labels()).isEqualTo(labels))
                .satisfies(s -> assertThat(s.longValue()).isEqualTo(20_000_010L));
        assertThat(parsed.sum("vllm_completion_tokens_total", labels)).isEqualTo(12);
        assertThat(parsed.sum("vllm_total_tokens_total", labels)).isEqualTo(20_000_022L);
        assertThat(parsed.sum("vllm_cached_prompt_tokens_total", labels)).isEqualTo(3);
        assertThat(parsed.sum("vllm_requests_total", with(labels, "outcome", "ok"))).isEqualTo(2);
        assertThat(parsed.sum("vllm_requests_total", with(labels, "outcome", "upstream_error"))).isEqualTo(1);
        assertThat(parsed.samples("vllm_requests_total")).hasSize(2);
        assertThat(parsed.sum("tokentap_aggregator_usage_series", Map.of())).isEqualTo(1);
        assertThat(text).contains("# TYPE vllm_prompt_tokens_total counter\n");
    }

    @Test
    void shouldServeReasoningAudioCostPerClientAndModelAndTheUnpricedRequests() {
        // given two routes of one client and model, priced, and a model without price
        SortedMap<UsageLabels, UsageTotals> totals = new TreeMap<>();
        UsageLabels chat = new UsageLabels("team-a", "ranker", "/v1/chat/completions", "proxy-a", "llama");
        UsageLabels completions = new UsageLabels("team-a", "ranker", "/v1/completions", "proxy-b", "llama");
        UsageLabels unpriced = new UsageLabels("team-a", "ranker", "/v1/completions", "proxy-b", "mystery");
        totals.put(chat, new UsageTotals(0, 0, 0, 0, new TreeMap<>(Map.of("ok", 2L)), null, null, 40,
                new java.math.BigDecimal("1.5"), dev.tokentap.event.Cost.of("USD", new java.math.BigDecimal("0.25")),
                0));
        totals.put(completions, new UsageTotals(0, 0, 0, 0, new TreeMap<>(Map.of("ok", 1L)), null, null, 2,
                null, dev.tokentap.event.Cost.of("USD", new java.math.BigDecimal("0.125")), 0));
        totals.put(unpriced, new UsageTotals(0, 0, 0, 0, new TreeMap<>(Map.of("ok", 3L)), null, null, 0, null,
                null, 3));
        metrics.bindUsageTotals(() -> Optional.of(totals));

        // when
        PrometheusText parsed = PrometheusText.parse(metrics.scrape());

        // then the cost is one series per namespace, client, model and currency, summed over routes and proxies
        assertThat(parsed.samples("vllm_cost_total")).singleElement().satisfies(s -> {
            assertThat(s.labels()).isEqualTo(Map.of("namespace", "team-a", "client_name", "ranker", "model", "llama",
                    "currency", "USD"));
            assertThat(s.value()).isEqualByComparingTo("0.375");
        });
        assertThat(parsed.samples("vllm_unpriced_requests_total")).singleElement().satisfies(s -> {
            assertThat(s.labels()).isEqualTo(Map.of("namespace", "team-a", "client_name", "ranker",
                    "model", "mystery"));
            assertThat(s.longValue()).isEqualTo(3);
        });
        assertThat(parsed.sum("vllm_reasoning_tokens_total", Map.of())).isEqualTo(42);
        assertThat(parsed.samples("vllm_audio_seconds_total").stream().map(PrometheusText.Sample::value)
                .reduce(java.math.BigDecimal.ZERO, java.math.BigDecimal::add)).isEqualByComparingTo("1.5");
    }

    @Test
    void shouldServeTotalsAnOlderVersionSavedNegative() {
        // given: a label set whose totals were saved negative, as read back from the store
        SortedMap<UsageLabels, UsageTotals> totals = new TreeMap<>();
        totals.put(new UsageLabels("unknown", "10.0.0.1", "/v1/completions", "proxy-a", "llama"),
                dev.tokentap.aggregator.topology.JsonSerde.totals().deserializer().deserialize("t",
                        ("{\"prompt_tokens\":-50,\"completion_tokens\":-9223372036854775806,\"total_tokens\":3,"
                                + "\"cached_tokens\":0,\"requests\":{\"ok\":-1}}")
                                .getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        metrics.bindUsageTotals(() -> Optional.of(totals));

        // when
        PrometheusText parsed = PrometheusText.parse(metrics.scrape());

        // then
        assertThat(parsed.sum("vllm_prompt_tokens_total", Map.of("client_name", "10.0.0.1"))).isZero();
        assertThat(parsed.sum("vllm_completion_tokens_total", Map.of("client_name", "10.0.0.1"))).isZero();
        assertThat(parsed.sum("vllm_total_tokens_total", Map.of("client_name", "10.0.0.1"))).isEqualTo(3);
    }

    @Test
    void shouldSayItDoesNotRenderFromAFailedScrapeUntilARenderSucceeds() {
        // given: totals that can be queried but not read
        AtomicReference<RuntimeException> failure = new AtomicReference<>(
                new IllegalStateException("totals store not readable"));
        metrics.bindUsageTotals(() -> {
            if (failure.get() != null) {
                throw failure.get();
            }
            return Optional.of(new TreeMap<>());
        });
        assertThat(metrics.renders()).isTrue();

        // when a scrape fails, it says why, and readiness says no
        assertThatThrownBy(() -> metrics.scrape("text/plain")).hasMessageContaining("totals store not readable");
        assertThat(metrics.renders()).isFalse();

        // then once the totals can be read, readiness comes back by itself
        failure.set(null);
        assertThat(metrics.renders()).isTrue();
        assertThat(metrics.scrape()).contains("tokentap_aggregator_usage_series");
    }

    @Test
    void shouldCountInvalidUsageByReasonFromZero() {
        metrics.invalidUsage(dev.tokentap.aggregator.topology.UsageValues.NEGATIVE);
        metrics.invalidUsage("made-up");

        PrometheusText parsed = PrometheusText.parse(metrics.scrape());

        assertThat(parsed.sum("tokentap_aggregator_invalid_usage_total", Map.of("reason", "negative"))).isEqualTo(1);
        assertThat(parsed.sum("tokentap_aggregator_invalid_usage_total", Map.of("reason", "fractional"))).isZero();
        assertThat(parsed.samples("tokentap_aggregator_invalid_usage_total")).hasSize(5);
    }

    @Test
    void shouldServeOpenMetricsWhenAskedWithTheSameSampleNames() {
        SortedMap<UsageLabels, UsageTotals> totals = new TreeMap<>();
        totals.put(new UsageLabels("unknown", "10.0.0.1", "/v1/completions", "proxy-a", "llama"),
                UsageTotals.EMPTY.add(event("ok", 10, 5, 3)));
        metrics.bindUsageTotals(() -> Optional.of(totals));

        AggregatorMetrics.Scrape scrape = metrics.scrape("application/openmetrics-text;version=1.0.0,text/plain;q=0.5");

        assertThat(scrape.contentType()).isEqualTo(OpenMetricsTextFormatWriter.CONTENT_TYPE);
        assertThat(scrape.body()).contains("# TYPE vllm_prompt_tokens counter\n")
                .contains("# TYPE vllm_requests counter\n")
                .endsWith("# EOF\n");
        PrometheusText parsed = PrometheusText.parse(scrape.body());
        assertThat(parsed.sum("vllm_prompt_tokens_total", Map.of("client_name", "10.0.0.1"))).isEqualTo(10);
        assertThat(parsed.sum("vllm_total_tokens_total", Map.of("client_name", "10.0.0.1"))).isEqualTo(15);
        assertThat(parsed.sum("vllm_requests_total", Map.of("outcome", "ok"))).isEqualTo(1);
    }

    @Test
    void shouldServePrometheusTextByDefault() {
        assertThat(metrics.scrape((String) null).contentType()).isEqualTo(PrometheusTextFormatWriter.CONTENT_TYPE);
        assertThat(metrics.scrape("*/*").contentType()).isEqualTo(PrometheusTextFormatWriter.CONTENT_TYPE);
    }

    private static Map<String, String> with(Map<String, String> labels, String key, String value) {
        Map<String, String> all = new HashMap<>(labels);
        all.put(key, value);
        return all;
    }

    @Test
    void shouldLeaveTheUsageFamiliesOutWhileTheStoreIsNotReadable() {
        metrics.bindUsageTotals(Optional::empty);

        String text = metrics.scrape();

        assertThat(text).doesNotContain("vllm_").contains("tokentap_aggregator_decode_failures_total");
    }

    @Test
    void shouldCountDecodeFailuresByBoundedReason() {
        metrics.decodeFailure(UsageEventDecodeException.MALFORMED);
        metrics.decodeFailure(UsageEventDecodeException.MALFORMED);
        metrics.decodeFailure("something new");

        assertThat(metrics.scrape())
                .contains("tokentap_aggregator_decode_failures_total{reason=\"malformed\"} 2.0")
                .contains("tokentap_aggregator_decode_failures_total{reason=\"other\"} 1.0")
                .contains("tokentap_aggregator_decode_failures_total{reason=\"empty\"} 0");
    }

    @Test
    void shouldShowTheCurrentStreamsState() {
        AtomicReference<KafkaStreams.State> state = new AtomicReference<>(KafkaStreams.State.REBALANCING);
        metrics.bindStreamsState(state::get);

        assertThat(metrics.scrape())
                .contains("tokentap_aggregator_streams_state{state=\"REBALANCING\"} 1")
                .contains("tokentap_aggregator_streams_state{state=\"RUNNING\"} 0");
        state.set(KafkaStreams.State.RUNNING);
        assertThat(metrics.scrape())
                .contains("tokentap_aggregator_streams_state{state=\"REBALANCING\"} 0")
                .contains("tokentap_aggregator_streams_state{state=\"RUNNING\"} 1");
    }

    @Test
    void shouldShowWhetherThePodDirectoryIsSyncedAndHowOldItIs() {
        AtomicReference<Boolean> synced = new AtomicReference<>(false);
        AtomicReference<Long> asOf = new AtomicReference<>(-1L);
        PodDirectory pods = new PodDirectory() {
            @Override
            public PodIdentity lookup(String ip, long epochMillis) {
                return null;
            }

            @Override
            public boolean synced() {
                return synced.get();
            }

            @Override
            public long currentAsOf() {
                return asOf.get();
            }
        };
        Clock clock = Clock.fixed(Instant.ofEpochMilli(100_000), ZoneOffset.UTC);
        metrics.bindPodDirectory(pods, clock);

        PrometheusText before = PrometheusText.parse(metrics.scrape());
        assertThat(before.sum("tokentap_aggregator_pod_directory_synced", Map.of())).isZero();
        assertThat(metrics.scrape()).contains("tokentap_aggregator_pod_directory_age_seconds -1.0");

        synced.set(true);
        asOf.set(58_000L);
        PrometheusText after = PrometheusText.parse(metrics.scrape());
        assertThat(after.sum("tokentap_aggregator_pod_directory_synced", Map.of())).isEqualTo(1);
        assertThat(after.sum("tokentap_aggregator_pod_directory_age_seconds", Map.of())).isEqualTo(42);
    }

    @Test
    void shouldServeLatencyHistogramsPerNamespaceClientAndModelSummedOverTheOtherLabels() {
        SortedMap<UsageLabels, UsageTotals> totals = new TreeMap<>();
        UsageEvent slowStream = UsageEvent.builder().eventId("e").route("/v1/chat/completions").outcome("ok")
                .stream(true).startedAt(0L).firstByteAt(80L).endedAt(3_000L).build();
        UsageEvent quickJson = UsageEvent.builder().eventId("e").route("/v1/completions").outcome("ok")
                .startedAt(0L).firstByteAt(200L).endedAt(200L).build();
        totals.put(new UsageLabels("unknown", "10.0.0.1", "/v1/chat/completions", "proxy-a", "llama"),
                UsageTotals.EMPTY.add(slowStream));
        totals.put(new UsageLabels("unknown", "10.0.0.1", "/v1/completions", "proxy-b", "llama"),
                UsageTotals.EMPTY.add(quickJson));
        metrics.bindUsageTotals(() -> Optional.of(totals));

        PrometheusText parsed = PrometheusText.parse(metrics.scrape());

        Map<String, String> series = Map.of("namespace", "unknown", "client_name", "10.0.0.1", "model", "llama");
        assertThat(parsed.sum("vllm_request_duration_seconds_count", series)).isEqualTo(2);
        assertThat(parsed.sum("vllm_request_duration_seconds_bucket", with(series, "le", "0.25"))).isEqualTo(1);
        assertThat(parsed.sum("vllm_request_duration_seconds_bucket", with(series, "le", "5.0"))).isEqualTo(2);
        assertThat(parsed.sum("vllm_request_duration_seconds_bucket", with(series, "le", "+Inf"))).isEqualTo(2);
        assertThat(parsed.sum("vllm_time_to_first_token_seconds_count", series)).isEqualTo(1);
        assertThat(parsed.sum("vllm_time_to_first_token_seconds_bucket", with(series, "le", "0.1"))).isEqualTo(1);
        assertThat(parsed.samples("vllm_request_duration_seconds_bucket"))
                .allSatisfy(s -> assertThat(s.labels()).doesNotContainKeys("full_path", "hostname"));
    }

    private static UsageEvent event(String outcome, long prompt, long completion, long cached) {
        return UsageEvent.builder().eventId("e").route("/v1/chat/completions").outcome(outcome)
                .promptTokens(prompt).completionTokens(completion).cachedTokens(cached).build();
    }

    @Test
    void shouldCountDuplicatesFromZero() {
        assertThat(PrometheusText.parse(metrics.scrape()).sum("tokentap_aggregator_duplicates_total", Map.of()))
                .isZero();

        metrics.duplicate();
        metrics.duplicate();

        assertThat(PrometheusText.parse(metrics.scrape()).sum("tokentap_aggregator_duplicates_total", Map.of()))
                .isEqualTo(2);
    }
}
