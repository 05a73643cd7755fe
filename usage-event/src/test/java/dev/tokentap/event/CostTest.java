package dev.tokentap.event;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigDecimal;
import org.junit.jupiter.api.Test;

class CostTest {

    @Test
    void shouldAddPerCurrencyExactly() {
        Cost sum = Cost.of("USD", new BigDecimal("0.1")).plus(Cost.of("USD", new BigDecimal("0.2")))
                .plus(Cost.of("EUR", new BigDecimal("1e-12"))).plus(Cost.NONE);

        assertThat(sum.toJson()).containsExactly(java.util.Map.entry("EUR", "0.000000000001"),
                java.util.Map.entry("USD", "0.3"));
    }

    @Test
    void shouldWritePlainDecimalsWithoutTrailingZeros() {
        assertThat(Cost.plain(new BigDecimal("1.2500"))).isEqualTo("1.25");
        assertThat(Cost.plain(new BigDecimal("1E+3"))).isEqualTo("1000");
        assertThat(Cost.plain(new BigDecimal("0.000"))).isEqualTo("0");
    }

    @Test
    void shouldRefuseANegativeCost() {
        assertThatThrownBy(() -> Cost.of("USD", new BigDecimal("-0.01")))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
