package dev.tokentap.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.nio.channels.UnresolvedAddressException;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.http.BadMessageException;
import org.eclipse.jetty.io.EofException;
import org.junit.jupiter.api.Test;

class RefusalTest {

    @Test
    void shouldTellWhyTheProxyGaveUpOnABody() {
        assertThat(Refusal.of(new BodyTooLarge(10))).isEqualTo(Refusal.TOO_LARGE);
        assertThat(Refusal.of(new RequestMemoryBudget(1).share().refusal())).isEqualTo(Refusal.OVER_BUDGET);
        assertThat(Refusal.of(new BadMessageException("bad chunk"))).isEqualTo(Refusal.MALFORMED);
        // as the servlet input stream reports it
        assertThat(Refusal.of(new IOException(new BadMessageException("bad chunk")))).isEqualTo(Refusal.MALFORMED);
        assertThat(Refusal.of(new BadMessageException(413, "too large"))).isEqualTo(Refusal.TOO_LARGE);
        assertThat(Refusal.of(new TimeoutException("idle"))).isEqualTo(Refusal.TOO_SLOW);
        // the client went away: not a refusal
        assertThat(Refusal.of(new EofException("early EOF"))).isNull();
        assertThat(Refusal.of(new IOException(new EofException("early EOF")))).isNull();
    }

    @Test
    void shouldCallOnlyAFailureWithoutIoItsOwn() {
        assertThat(Refusal.isOwnFailure(new OutOfMemoryError("Cannot reserve direct buffer memory"))).isTrue();
        assertThat(Refusal.isOwnFailure(new IllegalStateException("a bug"))).isTrue();
        assertThat(Refusal.isOwnFailure(new ConnectException("Connection refused"))).isFalse();
        assertThat(Refusal.isOwnFailure(new UncheckedIOException(new IOException("reset")))).isFalse();
        assertThat(Refusal.isOwnFailure(new UnresolvedAddressException())).isFalse();
        assertThat(Refusal.isOwnFailure(new TimeoutException())).isFalse();
        assertThat(Refusal.isOwnFailure(null)).isFalse();
    }

    @Test
    void shouldAnswerInOpenAisShape() {
        for (Refusal refusal : Refusal.values()) {
            assertThat(new String(refusal.body(), java.nio.charset.StandardCharsets.UTF_8))
                    .startsWith("{\"error\":{\"message\":\"").contains("\"param\":null,\"code\":" + refusal.status);
        }
    }
}
