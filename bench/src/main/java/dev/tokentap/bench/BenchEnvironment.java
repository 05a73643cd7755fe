package dev.tokentap.bench;

import dev.tokentap.bench.netty.NettyProxyMain;
import dev.tokentap.proxy.TapProxyMain;
import dev.tokentap.testkit.kafka.EmbeddedKafka;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What one scenario runs against: the simulator in its own JVM with the scenario's timing, tap-proxy in its own
 * JVM in front of it publishing to a real broker (in this JVM), and nginx in front of it when an nginx binary is
 * found. Everything listens on loopback and is stopped on close.
 */
public final class BenchEnvironment implements AutoCloseable {

    /** Generous: on a shared machine at load 70 to 90 a JVM took more than 90 s to answer its first request. */
    private static final Duration START_TIMEOUT = Duration.ofMinutes(5);
    /** The tokentap launcher, in the all-in-one jar the bench ships in. */
    static final String TOKENTAP_MAIN = "dev.tokentap.cli.TokentapMain";

    private final List<AutoCloseable> started = new ArrayList<>();
    private final List<Target> targets = new ArrayList<>();
    private ChildProcess proxy;
    private ChildProcess nginx;

    private BenchEnvironment() {
    }

    /**
     * Starts it all.
     *
     * @param kafka    the broker tap-proxy publishes to
     * @param proxyJvmOptions the tap-proxy JVM's options, normally {@link JvmOptions#TAP_PROXY}
     * @param nginxBin the nginx executable, if any
     * @param runTarget whether to run {@code tokentap run} in front of the simulator as a target of its own
     * @param nettyProxy whether to run the experimental Netty path ({@link NettyProxyMain}) as its own target
     * @param proxyVariants more tap-proxy JVMs, each a target of its own named {@code tap-proxy-NAME}, with options
     *                      added to {@code proxyJvmOptions}: one build's settings against another in the same run
     */
    public static BenchEnvironment start(String label, Path workDir, EmbeddedKafka kafka, Duration ttft, Duration itl,
                                         List<String> proxyJvmOptions, Optional<Path> nginxBin, boolean runTarget,
                                         boolean nettyProxy, List<WarmupScenario.Variant> proxyVariants,
                                         PrintStream out) throws IOException, InterruptedException {
        BenchEnvironment env = new BenchEnvironment();
        try {
            env.startAll(label, workDir, kafka, ttft, itl, proxyJvmOptions, nginxBin, runTarget, nettyProxy,
                    proxyVariants, out);
            return env;
        } catch (IOException | InterruptedException | RuntimeException e) {
            env.close();
            throw e;
        }
    }

    private void startAll(String label, Path workDir, EmbeddedKafka kafka, Duration ttft, Duration itl,
                          List<String> proxyJvmOptions, Optional<Path> nginxBin, boolean runTarget,
                          boolean nettyProxy, List<WarmupScenario.Variant> proxyVariants, PrintStream out)
            throws IOException, InterruptedException {
        Path dir = Files.createDirectories(workDir.resolve(label));
        int simPort = ChildProcess.freePort();
        ChildProcess sim = track(ChildProcess.java("simulator", JvmOptions.SIMULATOR, SimulatorMain.class.getName(),
                List.of(Integer.toString(simPort), Long.toString(ttft.toMillis()), Long.toString(itl.toMillis())), dir));
        URI simUrl = URI.create("http://127.0.0.1:" + simPort);

        int proxyPort = ChildProcess.freePort();
        int adminPort = ChildProcess.freePort();
        proxy = track(startProxy(Target.TAP_PROXY, proxyJvmOptions, simUrl, kafka, proxyPort, adminPort, dir));

        ChildProcess run = null;
        int runPort = ChildProcess.freePort();
        int runAdminPort = ChildProcess.freePort();
        if (runTarget) {
            run = track(startRun(simUrl, runPort, runAdminPort, Files.createDirectories(dir.resolve("run"))));
        }
        ChildProcess netty = null;
        int nettyPort = ChildProcess.freePort();
        if (nettyProxy) {
            // the same JVM options, environment, flags and spooling publisher as tap-proxy; its own spool
            netty = track(startProxy(Target.NETTY_PROXY, NettyProxyMain.class.getName(), proxyJvmOptions, simUrl,
                    kafka, nettyPort, ChildProcess.freePort(), Files.createDirectories(dir.resolve("netty"))));
        }

        List<StartedVariant> variants = new ArrayList<>();
        for (WarmupScenario.Variant variant : proxyVariants) {
            String name = Target.TAP_PROXY + "-" + variant.name();
            int port = ChildProcess.freePort();
            int variantAdminPort = ChildProcess.freePort();
            List<String> options = new ArrayList<>(proxyJvmOptions);
            options.addAll(variant.extraOptions());
            variants.add(new StartedVariant(name, track(startProxy(name, options, simUrl, kafka, port, variantAdminPort,
                    Files.createDirectories(dir.resolve(name)))), port, variantAdminPort));
        }

        int nginxPort = ChildProcess.freePort();
        if (nginxBin.isPresent()) {
            Path nginxDir = Files.createDirectories(dir.resolve("nginx"));
            Path conf = nginxDir.resolve("nginx.conf");
            Files.writeString(conf, NginxConfig.render(nginxDir, nginxPort, simPort, 1));
            nginx = track(ChildProcess.start("nginx", List.of(nginxBin.get().toString(), "-p",
                    nginxDir.toString(), "-c", conf.toString()), nginxDir));
        }

        // all three start at once (a proxy needs no upstream to start), then each is waited for
        sim.awaitHttpOk(simUrl.resolve("/health"), START_TIMEOUT);
        targets.add(new Target(Target.DIRECT, simUrl, sim));
        proxy.awaitHttpOk(URI.create("http://127.0.0.1:" + adminPort + "/readyz"), START_TIMEOUT);
        targets.add(new Target(Target.TAP_PROXY, URI.create("http://127.0.0.1:" + proxyPort), proxy));
        for (StartedVariant variant : variants) {
            variant.process().awaitHttpOk(URI.create("http://127.0.0.1:" + variant.adminPort() + "/readyz"),
                    START_TIMEOUT);
            targets.add(new Target(variant.name(), URI.create("http://127.0.0.1:" + variant.port()),
                    variant.process()));
        }
        if (run != null) {
            run.awaitHttpOk(URI.create("http://127.0.0.1:" + runAdminPort + "/readyz"), START_TIMEOUT);
            targets.add(new Target(Target.TOKENTAP_RUN, URI.create("http://127.0.0.1:" + runPort), run));
        }
        if (netty != null) {
            netty.awaitPort(nettyPort, START_TIMEOUT);
            targets.add(new Target(Target.NETTY_PROXY, URI.create("http://127.0.0.1:" + nettyPort), netty));
        }
        if (nginx != null) {
            nginx.awaitPort(nginxPort, START_TIMEOUT);
            targets.add(new Target(Target.NGINX, URI.create("http://127.0.0.1:" + nginxPort), nginx));
        }
        out.printf("%s: simulator pid %d (ttft %d ms, itl %d ms), tap-proxy pid %d%s%n", label, sim.pid(),
                ttft.toMillis(), itl.toMillis(), proxy.pid(),
                nginx == null ? ", nginx not found (skipped)" : ", nginx pid " + nginx.pid());
    }

    static ChildProcess startProxy(String name, List<String> jvmOptions, URI simUrl, EmbeddedKafka kafka,
                                           int port, int adminPort, Path dir) throws IOException {
        return startProxy(name, TapProxyMain.class.getName(), jvmOptions, simUrl, kafka, port, adminPort, dir);
    }

    private static ChildProcess startProxy(String name, String mainClass, List<String> jvmOptions, URI simUrl,
                                           EmbeddedKafka kafka, int port, int adminPort, Path dir)
            throws IOException {
        return ChildProcess.java(name, jvmOptions, JvmOptions.TAP_PROXY_ENVIRONMENT, mainClass,
                List.of("--upstream", simUrl.toString(),
                        "--kafka", kafka.bootstrapServers(),
                        "--listen", "127.0.0.1",
                        "--port", Integer.toString(port),
                        "--admin-port", Integer.toString(adminPort),
                        "--spool-dir", dir.resolve("spool").toString(),
                        "--proxy-host", "bench"), dir);
    }

    /**
     * {@code tokentap run} as a newcomer starts it: no JVM options (so it starts itself again in the JVM it sizes),
     * its own embedded broker and aggregator, on ports of its own. Only from the tokentap jar, whose launcher it is.
     */
    private static ChildProcess startRun(URI simUrl, int port, int adminPort, Path dir) throws IOException {
        try {
            Class.forName(TOKENTAP_MAIN, false, BenchEnvironment.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("--run-target needs the tokentap launcher on the class path: run the "
                    + "bench from tokentap.jar");
        }
        int kafkaPort = freePortPair();
        return ChildProcess.java(Target.TOKENTAP_RUN, List.of(), TOKENTAP_MAIN,
                List.of("run", "--upstream", simUrl.toString(),
                        "--listen", "127.0.0.1",
                        "--proxy-port", Integer.toString(port),
                        "--admin-port", Integer.toString(adminPort),
                        "--aggregator-port", Integer.toString(ChildProcess.freePort()),
                        "--embedded-kafka-port", Integer.toString(kafkaPort),
                        "--data-dir", dir.resolve("data").toString(),
                        "--proxy-host", "bench-run"), dir);
    }

    /** A free loopback port whose next port is free too (the embedded broker's controller takes it). */
    private static int freePortPair() throws IOException {
        for (int attempt = 0; attempt < 50; attempt++) {
            int port = ChildProcess.freePort();
            if (port < 65_535) {
                try (java.net.ServerSocket next = new java.net.ServerSocket(port + 1, 50,
                        java.net.InetAddress.getLoopbackAddress())) {
                    return port;
                } catch (IOException taken) {
                    // try another
                }
            }
        }
        throw new IOException("no two free loopback ports in a row");
    }

    private ChildProcess track(ChildProcess child) {
        started.add(child);
        return child;
    }

    /** Direct first, then tap-proxy (and {@code tokentap run} and the Netty path when asked for), then nginx. */
    public List<Target> targets() {
        return List.copyOf(targets);
    }

    public ChildProcess proxy() {
        return proxy;
    }

    public Optional<ChildProcess> nginx() {
        return Optional.ofNullable(nginx);
    }

    /** The nginx binary: {@code --nginx} if given, else the first {@code nginx} on the PATH, else /usr/sbin/nginx. */
    public static Optional<Path> findNginx(String configured) {
        if (configured != null && !configured.isBlank()) {
            if ("none".equals(configured)) {
                return Optional.empty();
            }
            Path path = Path.of(configured);
            return Files.isExecutable(path) ? Optional.of(path) : Optional.empty();
        }
        String pathVar = System.getenv().getOrDefault("PATH", "");
        for (String entry : pathVar.split(java.io.File.pathSeparator)) {
            if (!entry.isBlank() && Files.isExecutable(Path.of(entry, "nginx"))) {
                return Optional.of(Path.of(entry, "nginx"));
            }
        }
        Path sbin = Path.of("/usr/sbin/nginx");
        return Files.isExecutable(sbin) ? Optional.of(sbin) : Optional.empty();
    }

    @Override
    public void close() {
        for (int i = started.size() - 1; i >= 0; i--) {
            try {
                started.get(i).close();
            } catch (Exception e) {
                // keep stopping the rest
            }
        }
        started.clear();
    }

    /** A {@code --proxy-variant} tap-proxy started, not yet ready: its target name, process and ports. */
    private record StartedVariant(String name, ChildProcess process, int port, int adminPort) {
    }
}
