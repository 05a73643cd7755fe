package dev.tokentap.aggregator.pricing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.event.UsageEvent;
import java.math.BigDecimal;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class PriceFileTest {

    static final long MARCH = Instant.parse("2026-03-01T00:00:00Z").toEpochMilli();

    @Test
    void shouldTakeThePriceInForceAtTheStartPreferringTheExactNameToAGlob() {
        Prices prices = PriceFile.parse("""
                currency: EUR
                prices:
                  - model: "llama-*"
                    prompt_per_million: 1
                  - model: llama-3
                    effective_from: 2026-03-01
                    prompt_per_million: 2
                  - model: llama-3
                    effective_from: 2026-04-01T00:00:00+02:00
                    prompt_per_million: "3"
                  - model: "*"
                    prompt_per_million: 9
                """, false, "test");

        assertThat(prices.currency()).isEqualTo("EUR");
        // before the exact name has a price, the first glob that matches applies
        assertThat(prices.priceAt("llama-3", MARCH - 1).promptPerMillion()).isEqualByComparingTo("1");
        assertThat(prices.priceAt("llama-3", MARCH).promptPerMillion()).isEqualByComparingTo("2");
        assertThat(prices.priceAt("llama-3", Instant.parse("2026-03-31T22:00:00Z").toEpochMilli())
                .promptPerMillion()).isEqualByComparingTo("3");
        assertThat(prices.priceAt("llama-70b", MARCH).promptPerMillion()).isEqualByComparingTo("1");
        assertThat(prices.priceAt("qwen", MARCH).promptPerMillion()).isEqualByComparingTo("9");
    }

    @Test
    void shouldHaveNoPriceBeforeTheFirstOneNorForAModelNoEntryMatches() {
        Prices prices = PriceFile.parse("{\"currency\":\"USD\",\"prices\":[{\"model\":\"a\","
                + "\"effective_from\":\"2026-03-01\",\"completion_per_million\":1}]}", true, "test");

        assertThat(prices.priceAt("a", MARCH - 1)).isNull();
        assertThat(prices.priceAt("b", MARCH)).isNull();
        assertThat(prices.costOf(UsageEvent.builder().model("b").completionTokens(5L).build(), MARCH)).isNull();
        assertThat(Prices.NONE.configured()).isFalse();
    }

    @Test
    void shouldCostTokensAndAudioExactlyWithoutRounding() {
        Price price = new Price("m", 0, new BigDecimal("0.15"), new BigDecimal("0.075"), new BigDecimal("0.6"),
                new BigDecimal("0.0001"));
        UsageEvent event = UsageEvent.builder().promptTokens(1_234_567L).cachedTokens(1_000_000L)
                .completionTokens(3L).audioSeconds(1.1).build();

        // 234,567 × 0.15 + 1,000,000 × 0.075 + 3 × 0.6, per million, + 1.1 × 0.0001
        assertThat(Prices.amount(event, price)).isEqualByComparingTo("0.11029685")
                .isEqualByComparingTo(new BigDecimal("0.03518505").add(new BigDecimal("0.075"))
                        .add(new BigDecimal("0.0000018")).add(new BigDecimal("0.00011")));
    }

    @Test
    void shouldCostARequestWithOnlyATotalAsPromptAndInvalidUsageAsNothing() {
        Price price = new Price("m", 0, BigDecimal.ONE, null, BigDecimal.TEN, null);

        assertThat(Prices.amount(UsageEvent.builder().totalTokens(1_000_000L).build(), price))
                .isEqualByComparingTo("1");
        assertThat(Prices.amount(UsageEvent.builder().usageSource("invalid").build(), price))
                .isEqualByComparingTo("0");
    }

    @Test
    void shouldNameEveryProblemOfTheFileAtOnce() {
        assertThatThrownBy(() -> PriceFile.parse("""
                currency: dollars
                prices:
                  - model: llama
                    prompt_per_milion: 1
                  - model: llama
                    effective_from: yesterday
                    completion_per_million: -2
                  - prompt_per_million: abc
                  - model: a
                    prompt_per_million: 1
                  - model: a
                    prompt_per_million: 2
                """, false, "--prices p.yaml"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("--prices p.yaml has 7 problems: ")
                .hasMessageContaining("currency: 'dollars' is not an ISO 4217 code")
                .hasMessageContaining("prices[0].prompt_per_milion: unknown field")
                .hasMessageContaining("prices[1].effective_from: 'yesterday' is not an RFC 3339 time")
                .hasMessageContaining("prices[1].completion_per_million: must be zero or more, got -2")
                .hasMessageContaining("prices[2].model: missing")
                .hasMessageContaining("prices[2].prompt_per_million: 'abc' is not a decimal number")
                .hasMessageContaining("prices[4]: a second price for 'a' from 1970-01-01T00:00:00Z");
    }

    @Test
    void shouldRefuseAnEntryThatNamesNoPrice() {
        assertThatThrownBy(() -> PriceFile.parse("{\"currency\":\"USD\",\"prices\":[{\"model\":\"a\"}]}", true,
                "--prices p.json")).hasMessage("--prices p.json has 1 problem: prices[0]: names no price "
                + "(prompt_per_million, cached_prompt_per_million, completion_per_million or per_audio_second)");
    }

    @Test
    void shouldSayWhenTheFileIsNoYamlAtAll() {
        assertThatThrownBy(() -> PriceFile.parse("currency: [", false, "--prices p.yaml"))
                .hasMessageStartingWith("--prices p.yaml is not YAML");
        assertThatThrownBy(() -> PriceFile.read(java.nio.file.Path.of("/no/such/prices.yaml")))
                .hasMessageStartingWith("--prices /no/such/prices.yaml cannot be read");
    }
}
