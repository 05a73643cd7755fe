package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.text;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.proxy.VllmFixtures;
import dev.tokentap.proxy.VllmFixtures.Fixture;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The pure core against vLLM's bytes: every stream fixture of a route the proxy asks usage of, its client request
 * rewritten, vLLM's answer to the rewritten request through the tap, must come out as the bytes vLLM sends the
 * client's own request, for the generation set explicitly and told from the bytes, whole and a byte at a time.
 */
class VllmFixtureStripTest {

    static Stream<Arguments> streams() {
        return VllmFixtures.all()
                .filter(f -> f.metered() && MeteredRoutes.streamUsagePolicy(f.path()) != null)
                .flatMap(f -> Stream.of(Arguments.of(f, VllmGeneration.valueOf(f.profile().toUpperCase())),
                        Arguments.of(f, VllmGeneration.AUTO)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("streams")
    void shouldGiveTheClientWhatVllmWouldHaveSentIt(Fixture fixture, VllmGeneration generation) {
        // given
        StreamUsagePolicy policy = MeteredRoutes.streamUsagePolicy(fixture.path());
        RequestBodyRewriter rewriter = new RequestBodyRewriter(RequestBodyRewriter.INJECTED_STREAM_OPTIONS, policy);
        Pieces.byteByByte(rewriter::transform, fixture.file("request"));
        // a legacy completions beam search is answered whole, usage and all, whatever was asked: nothing to ask
        byte[] metered = fixture.file(rewriter.injected() ? "metered_response" : "response");

        for (boolean byteByByte : new boolean[] {false, true}) {
            ResponseFacts facts = new ResponseFacts();
            StreamStrip strip = rewriter.injected() ? StreamStrip.of(policy, rewriter.clientStreamOptions(),
                    generation, fixture.forceIncludeUsage()) : null;
            SseResponseTap tap = new SseResponseTap(facts, strip);

            // when
            byte[] client = byteByByte ? Pieces.byteByByte(tap::transform, metered)
                    : Pieces.splitAt(tap::transform, metered, metered.length, false);

            // then
            assertThat(text(client)).as("byte by byte: %s", byteByByte).isEqualTo(text(fixture.file("response")));
            ResponseFacts.Usage usage = facts.finalUsageSeen() ? facts.usage() : facts.runningUsage();
            assertThat(usage.promptTokens()).isEqualTo(fixture.usage().get("prompt_tokens").asLong());
            assertThat(usage.completionTokens()).isEqualTo(fixture.usage().get("completion_tokens").asLong());
            if (fixture.usage().path("partial").asBoolean()) {
                assertThat(facts.finalUsageSeen()).as("an error cut the stream: the running count").isFalse();
            }
        }
    }
}
