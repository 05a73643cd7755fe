package dev.tokentap.bench;

import dev.tokentap.testkit.sim.VllmSimulator;
import java.time.Duration;

/**
 * The simulator in a JVM of its own for the bench: {@code PORT TTFT_MS ITL_MS}. It keeps no record of requests
 * (the tests' inspection aid would copy every body) and paces streams with a few threads.
 */
public final class SimulatorMain {

    private SimulatorMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 3) {
            System.err.println("usage: SimulatorMain PORT TTFT_MS ITL_MS");
            System.exit(2);
        }
        VllmSimulator sim = VllmSimulator.builder().host("127.0.0.1").port(Integer.parseInt(args[0]))
                .ttft(Duration.ofMillis(Long.parseLong(args[1]))).itl(Duration.ofMillis(Long.parseLong(args[2])))
                .recordLimit(0).build().start();
        Runtime.getRuntime().addShutdownHook(new Thread(sim::close, "sim-shutdown"));
        Thread.currentThread().join();
    }
}
