package dev.tokentap.cli;

import dev.tokentap.config.Ports;
import dev.tokentap.testkit.sim.VllmProfile;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** {@code tokentap sim}: the vLLM-compatible simulator on its own, as an upstream to try things against. */
@Command(name = "sim",
        description = "Run a vLLM-compatible simulator: /v1/completions, /v1/chat/completions (streamed or not), "
                + "/v1/models, /health, with deterministic token counts.")
final class SimCommand implements Callable<Integer> {

    // a simulator to try things against stays on this machine unless told otherwise
    @Option(names = "--listen", paramLabel = "ADDRESS", defaultValue = "127.0.0.1", description = "address to bind")
    String listen;

    @Option(names = "--port", paramLabel = "PORT", defaultValue = "8000", converter = Ports.Converter.class,
            description = "port")
    int port;

    @Option(names = "--ttft", paramLabel = "DURATION", defaultValue = "0ms", description = "time to first token")
    Duration ttft;

    @Option(names = "--itl", paramLabel = "DURATION", defaultValue = "0ms",
            description = "inter-token latency of streams")
    Duration itl;

    @Option(names = "--vllm-profile", paramLabel = "current|legacy", defaultValue = "current",
            converter = ProfileConverter.class,
            description = "which vLLM to answer as: current (main of 2026-05: include_usage off unless asked, "
                    + "fingerprint on the usage chunk) or legacy (0.6 to 0.10: usage whenever stream_options is "
                    + "present, \"usage\":null on completions chunks)")
    VllmProfile profile;

    @Override
    public Integer call() throws InterruptedException {
        VllmSimulator sim = VllmSimulator.builder().host(listen).port(port).ttft(ttft).itl(itl).vllmProfile(profile)
                .build().start();
        Runtime.getRuntime().addShutdownHook(new Thread(sim::close, "sim-shutdown"));
        System.out.printf("vLLM simulator (%s) on %s serving %s (ttft %d ms, itl %d ms). Ctrl-C to stop.%n",
                profile.name().toLowerCase(java.util.Locale.ROOT), sim.baseUrl(), sim.models(), ttft.toMillis(),
                itl.toMillis());
        Thread.currentThread().join();
        return 0;
    }

    static final class ProfileConverter implements ITypeConverter<VllmProfile> {
        @Override
        public VllmProfile convert(String value) {
            try {
                return VllmProfile.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
