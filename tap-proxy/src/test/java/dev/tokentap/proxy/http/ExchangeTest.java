package dev.tokentap.proxy.http;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import dev.tokentap.proxy.usage.MeteredRoutes;
import dev.tokentap.proxy.usage.UsageExtractor;

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

    private static Exchange exchange(String route) {
        return new Exchange("e", 1L, 1L, "POST", route, "/x", "r", false, null, "127.0.0.1", null, null, null);
    }

    @Test
    void shouldPublishAnUnknownRouteOnlyWhenItReturnedUsage() {
        Exchange silent = exchange(MeteredRoutes.OTHER);
        Exchange withUsage = exchange(MeteredRoutes.OTHER);
        UsageExtractor.read("{\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}".getBytes(), withUsage.facts);

        assertThat(silent.publishable()).isFalse();
        assertThat(withUsage.publishable()).isTrue();
        assertThat(exchange("/v1/embeddings").publishable()).isTrue();
        assertThat(withUsage.toEvent(200, Outcome.OK, 2L, "p", "u").route()).isEqualTo("other");
    }

    @Test
    void shouldSayPartialOnlyForARunningUsageOfAnExchangeThatEndedBadly() {
        Exchange aborted = exchange("/v1/chat/completions");
        UsageExtractor.read(("{\"choices\":[{\"index\":0}],\"usage\":{\"prompt_tokens\":3,"
                + "\"completion_tokens\":2,\"total_tokens\":5}}").getBytes(), aborted.facts);
        Exchange nullCompletion = exchange("/v1/embeddings");
        UsageExtractor.read("{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":null}}".getBytes(),
                nullCompletion.facts);

        UsageEvent partial = aborted.toEvent(200, Outcome.CLIENT_ABORTED, 2L, "p", "u");
        UsageEvent complete = aborted.toEvent(200, Outcome.OK, 2L, "p", "u");
        UsageEvent zero = nullCompletion.toEvent(200, Outcome.OK, 2L, "p", "u");

        assertThat(partial.usageSource()).isEqualTo(UsageSource.PARTIAL);
        assertThat(complete.usageSource()).isEqualTo(UsageSource.REPORTED);
        assertThat(zero.completionTokens()).isZero();
        assertThat(zero.completionTokensReported()).isFalse();
    }

    @Test
    void shouldPublishAnInvalidUsageWithoutAnyCount() {
        Exchange exchange = exchange("/v1/completions");
        UsageExtractor.read(("{\"choices\":[],\"usage\":{\"prompt_tokens\":-1000,\"completion_tokens\":5,"
                + "\"total_tokens\":-995}}").getBytes(), exchange.facts);

        UsageEvent event = exchange.toEvent(200, Outcome.OK, 2L, "p", "u");

        assertThat(event.usageSource()).isEqualTo(UsageSource.INVALID);
        assertThat(event.promptTokens()).isNull();
        assertThat(event.completionTokens()).isNull();
        assertThat(event.totalTokens()).isNull();
        assertThat(event.completionTokensReported()).isNull();
    }

    @Test
    void shouldCallTheRunningUsageOfAnEarlyEndInvalidWhenAnyChoicesWas() {
        Exchange exchange = exchange("/v1/chat/completions");
        UsageExtractor stream = UsageExtractor.forEvents(exchange.facts);
        for (String chunk : new String[] {
                "{\"choices\":[{\"index\":0}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1.5}}",
                "{\"choices\":[{\"index\":1}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}"}) {
            byte[] bytes = chunk.getBytes();
            stream.readNext(bytes, 0, bytes.length);
        }

        UsageEvent event = exchange.toEvent(200, Outcome.CLIENT_ABORTED, 2L, "p", "u");

        assertThat(event.usageSource()).isEqualTo(UsageSource.INVALID);
        assertThat(event.completionTokens()).isNull();
    }
}
