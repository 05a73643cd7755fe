package dev.tokentap.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.event.Outcome;
import java.net.ConnectException;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.io.EofException;
import org.junit.jupiter.api.Test;

class ExchangeTest {

    @Test
    void shouldCallAClientThatLeftAbortedWhateverElseHappened() {
        assertThat(Exchange.outcome(true, new EofException(), 200, false)).isEqualTo(Outcome.CLIENT_ABORTED);
        assertThat(Exchange.outcome(true, null, 200, false)).isEqualTo(Outcome.CLIENT_ABORTED);
    }

    @Test
    void shouldTellTimeoutsFromUnreachableUpstreams() {
        assertThat(Exchange.outcome(false, new TimeoutException("Idle timeout"), -1, false))
                .isEqualTo(Outcome.UPSTREAM_TIMEOUT);
        assertThat(Exchange.outcome(false, new RuntimeException(new TimeoutException()), 200, false))
                .isEqualTo(Outcome.UPSTREAM_TIMEOUT);
        assertThat(Exchange.outcome(false, new ConnectException("refused"), -1, false))
                .isEqualTo(Outcome.UPSTREAM_UNREACHABLE);
    }

    @Test
    void shouldCallAFailureAfterTheUpstreamAnsweredAnUpstreamError() {
        assertThat(Exchange.outcome(false, new EofException("reset"), 200, false)).isEqualTo(Outcome.UPSTREAM_ERROR);
    }

    @Test
    void shouldCallErrorStatusesAndErrorEventsUpstreamErrors() {
        assertThat(Exchange.outcome(false, null, 400, false)).isEqualTo(Outcome.UPSTREAM_ERROR);
        assertThat(Exchange.outcome(false, null, 503, false)).isEqualTo(Outcome.UPSTREAM_ERROR);
        assertThat(Exchange.outcome(false, null, 200, true)).isEqualTo(Outcome.UPSTREAM_ERROR);
        assertThat(Exchange.outcome(false, null, 200, false)).isEqualTo(Outcome.OK);
        assertThat(Exchange.outcome(false, null, 304, false)).isEqualTo(Outcome.OK);
    }

    @Test
    void shouldWriteOpenAiErrorBodies() {
        assertThat(new String(OpenAiError.forStatus(502)))
                .isEqualTo("{\"error\":{\"message\":\"The upstream server could not be reached.\","
                        + "\"type\":\"BadGatewayError\",\"param\":null,\"code\":502}}");
        assertThat(new String(OpenAiError.body(500, "say \"hi\"", "X"))).contains("say \\\"hi\\\"");
    }
}
