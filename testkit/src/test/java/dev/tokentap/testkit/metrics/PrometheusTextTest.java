package dev.tokentap.testkit.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class PrometheusTextTest {

    private static final String SCRAPE = """
            # HELP vllm_prompt_tokens prompt tokens
            # TYPE vllm_prompt_tokens counter
            vllm_prompt_tokens_total{client_name="10.0.0.1",model="m \\"quoted\\", with comma",namespace="unknown"} 235.0
            vllm_prompt_tokens_total{client_name="10.0.0.2",model="m",namespace="unknown"} 2.000001E7
            jvm_gc_pause_seconds_max{action="end of minor GC"} NaN
            process_uptime_seconds 12.5
            """;

    @Test
    void shouldReadLabelsWithEscapesAndSumExactly() {
        PrometheusText text = PrometheusText.parse(SCRAPE);

        assertThat(text.samples("vllm_prompt_tokens_total")).hasSize(2);
        assertThat(text.samples("vllm_prompt_tokens_total").get(0).labels())
                .containsEntry("model", "m \"quoted\", with comma");
        assertThat(text.sum("vllm_prompt_tokens_total", Map.of("namespace", "unknown"))).isEqualTo(20_000_245L);
        assertThat(text.sum("vllm_prompt_tokens_total", Map.of("client_name", "10.0.0.1"))).isEqualTo(235L);
        assertThat(text.sum("vllm_prompt_tokens_total", Map.of("client_name", "nobody"))).isZero();
    }

    @Test
    void shouldSkipValuesThatAreNotFiniteAndRefuseFractionsInSums() {
        PrometheusText text = PrometheusText.parse(SCRAPE);

        assertThat(text.samples("jvm_gc_pause_seconds_max")).isEmpty();
        assertThat(text.samples("process_uptime_seconds")).hasSize(1);
        assertThatThrownBy(() -> text.sum("process_uptime_seconds", Map.of())).isInstanceOf(ArithmeticException.class);
    }
}
