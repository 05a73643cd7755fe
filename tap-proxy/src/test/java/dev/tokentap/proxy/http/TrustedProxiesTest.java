package dev.tokentap.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class TrustedProxiesTest {

    private final TrustedProxies lb = TrustedProxies.parse("10.0.0.0/8, 192.168.1.7, fd00::/8");

    @Test
    void shouldIgnoreForwardedForWhenNoProxyIsTrusted() {
        assertThat(TrustedProxies.NONE.clientAddress("10.1.2.3", List.of("6.6.6.6"))).isEqualTo("10.1.2.3");
        assertThat(TrustedProxies.parse("").isEmpty()).isTrue();
        assertThat(TrustedProxies.parse("none").isEmpty()).isTrue();
    }

    @Test
    void shouldIgnoreForwardedForFromAPeerThatIsNotTrusted() {
        assertThat(lb.clientAddress("203.0.113.9", List.of("6.6.6.6"))).isEqualTo("203.0.113.9");
    }

    @Test
    void shouldTakeTheRightMostUntrustedAddressOfTheChain() {
        // the client spoofed 6.6.6.6 in front of its real address, which the trusted balancer appended
        assertThat(lb.clientAddress("10.0.0.5", List.of("6.6.6.6, 198.51.100.4, 192.168.1.7")))
                .isEqualTo("198.51.100.4");
        assertThat(lb.clientAddress("10.0.0.5", List.of("6.6.6.6", "198.51.100.4"))).isEqualTo("198.51.100.4");
    }

    @Test
    void shouldStopAtAnEntryThatIsNotAnAddress() {
        assertThat(lb.clientAddress("10.0.0.5", List.of("198.51.100.4, unknown"))).isEqualTo("10.0.0.5");
        assertThat(lb.clientAddress("10.0.0.5", List.of("evil.example, 10.9.9.9"))).isEqualTo("10.9.9.9");
    }

    @Test
    void shouldKeepTheLeftMostAddressWhenEveryHopIsTrusted() {
        assertThat(lb.clientAddress("10.0.0.5", List.of("10.0.0.1, 10.0.0.2"))).isEqualTo("10.0.0.1");
    }

    @Test
    void shouldMatchIpv6RangesAndBracketedAddresses() {
        assertThat(lb.trusts("[fd12::1]")).isTrue();
        assertThat(lb.trusts("fe80::1")).isFalse();
        assertThat(lb.clientAddress("fd00::7", List.of("[2001:db8::1]"))).isEqualTo("2001:db8::1");
        assertThat(TrustedProxies.parse("127.0.0.2/32").trusts("127.0.0.1")).isFalse();
        assertThat(TrustedProxies.parse("127.0.0.0/31").trusts("127.0.0.1")).isTrue();
    }

    @Test
    void shouldRefuseHostNamesAndBadPrefixes() {
        assertThatThrownBy(() -> TrustedProxies.parse("lb.internal")).hasMessageContaining("'lb.internal'");
        assertThatThrownBy(() -> TrustedProxies.parse("10.0.0.0/33")).hasMessageContaining("'10.0.0.0/33'");
        assertThatThrownBy(() -> TrustedProxies.parse("10.0.0.0/x")).hasMessageContaining("'10.0.0.0/x'");
    }
}
