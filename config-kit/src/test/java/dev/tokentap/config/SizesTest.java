package dev.tokentap.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SizesTest {

    @Test
    void shouldReadBytesOrBinaryUnits() {
        assertThat(Sizes.parse("4096")).isEqualTo(4096);
        assertThat(Sizes.parse("8KiB")).isEqualTo(8192);
        assertThat(Sizes.parse("32MiB")).isEqualTo(32L << 20);
        assertThat(Sizes.parse("2 GiB")).isEqualTo(2L << 30);
        assertThat(Sizes.parse("1gib")).isEqualTo(1L << 30);
    }

    @Test
    void shouldRefuseWhatIsNotASize() {
        assertThatThrownBy(() -> Sizes.parse("lots")).hasMessageContaining("'lots' is not a size");
        assertThatThrownBy(() -> Sizes.parse("-1")).hasMessageContaining("is not a size");
        assertThatThrownBy(() -> Sizes.parse("10MB")).hasMessageContaining("is not a size");
        assertThatThrownBy(() -> Sizes.parse("9999999999999GiB")).hasMessageContaining("is not a size");
    }
}
