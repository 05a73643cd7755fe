package dev.tokentap.cli;

import dev.tokentap.bench.DurationConverter;
import dev.tokentap.testkit.sim.VllmSimulator;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tokentap sim}: the vLLM-compatible simulator on its own, as an upstream to try things against. */
@Command(name = "sim", mixinStandardHelpOptions = true,
        description = "Run a vLLM-compatible simulator: /v1/completions, /v1/chat/completions (streamed or not), "
                + "/v1/models, /health, with deterministic token counts.")
final class SimCommand implements Callable<Integer> {

    @Option(names = "--listen", defaultValue = "127.0.0.1",
            description = "address to bind (env TOKENTAP_LISTEN; default: ${DEFAULT-VALUE})")
    String listen;

    @Option(names = "--port", defaultValue = "8000", description = "port (env TOKENTAP_PORT; default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--ttft", defaultValue = "0ms", converter = DurationConverter.class,
            description = "time to first token (env TOKENTAP_TTFT; default: ${DEFAULT-VALUE})")
    Duration ttft;

    @Option(names = "--itl", defaultValue = "0ms", converter = DurationConverter.class,
            description = "inter-token latency of streams (env TOKENTAP_ITL; default: ${DEFAULT-VALUE})")
    Duration itl;

    @Override
    public Integer call() throws InterruptedException {
        VllmSimulator sim = VllmSimulator.start(listen, port, ttft, itl);
        Runtime.getRuntime().addShutdownHook(new Thread(sim::close, "sim-shutdown"));
        System.out.printf("vLLM simulator on %s serving %s (ttft %d ms, itl %d ms). Ctrl-C to stop.%n",
                sim.baseUrl(), sim.models(), ttft.toMillis(), itl.toMillis());
        Thread.currentThread().join();
        return 0;
    }
}
