package dev.tokentap.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.aggregator.AggregatorOptions;
import dev.tokentap.config.Cli;
import dev.tokentap.config.ConfigException;
import dev.tokentap.config.Secret;
import dev.tokentap.config.Version;
import dev.tokentap.proxy.TapProxyConfig;
import dev.tokentap.proxy.TapProxyOptions;
import dev.tokentap.proxy.http.Metering;
import dev.tokentap.proxy.usage.VllmGeneration;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine.Model.OptionSpec;

class LauncherTest {

    /** The options of the processes that run and demo have their own for: ports, places, Kubernetes. */
    static final Set<String> REPLACED_BY_THE_LAUNCHER = Set.of("--port", "--spool-dir", "--state-dir", "--kubernetes",
            "--watch-namespaces", "--pod-labels", "--kubernetes-sync-timeout", "--pod-tombstone-retention");

    static Set<String> options(Object command) {
        return Cli.commandLine(command, Map.of()).getCommandSpec().options().stream()
                .map(OptionSpec::longestName).collect(Collectors.toCollection(java.util.TreeSet::new));
    }

    private record Run(int exit, String out, String err) {
    }

    private static Run tokentap(Map<String, String> env, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Cli.execute(new TokentapMain(), args, env, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void shouldGiveRunEveryOptionOfTheProcessesItRunsButThoseItStandsFor() {
        Set<String> processes = new HashSet<>(options(new TapProxyOptions()));
        processes.addAll(options(new AggregatorOptions()));
        Set<String> run = options(new RunCommand());

        assertThat(processes).filteredOn(option -> !run.contains(option))
                .containsExactlyInAnyOrderElementsOf(REPLACED_BY_THE_LAUNCHER);
        assertThat(run).filteredOn(option -> !processes.contains(option))
                .containsExactlyInAnyOrder("--proxy-port", "--aggregator-port", "--embedded-kafka-port", "--data-dir");
    }

    @Test
    void shouldGiveDemoTheOptionsOfRunButTheUpstreams() {
        Set<String> run = options(new RunCommand());
        Set<String> demo = options(new DemoCommand());

        assertThat(run).filteredOn(option -> !demo.contains(option))
                .containsExactlyInAnyOrder("--upstream", "--connect-timeout", "--upstream-timeout");
        assertThat(demo).filteredOn(option -> !run.contains(option)).containsExactly("--sim-port");
    }

    @Test
    void shouldReadTheVariablesOfTheProcessesItRuns(@TempDir Path dir) throws IOException {
        Path aliases = Files.writeString(dir.resolve("aliases"), "key-1 batch\n");
        Path token = Files.writeString(dir.resolve("token"), "metrics-token\n");

        LocalTokentap.Settings settings = Cli.configure(new RunCommand(), new String[0], Map.ofEntries(
                Map.entry("TOKENTAP_UPSTREAM", "http://127.0.0.1:8000"),
                Map.entry("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9093"),
                Map.entry("TOKENTAP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
                Map.entry("TOKENTAP_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
                Map.entry("TOKENTAP_TENANT_HEADER", "X-Tenant-Id"),
                Map.entry("TOKENTAP_TRUSTED_PROXIES", "10.0.0.7"),
                Map.entry("TOKENTAP_API_KEY_HASH_SECRET", "shared-secret"),
                Map.entry("TOKENTAP_API_KEY_ALIASES", aliases.toString()),
                Map.entry("TOKENTAP_TOKEN_FILE", token.toString()),
                Map.entry("TOKENTAP_MODEL_SERIES_CAP", "7"),
                Map.entry("TOKENTAP_DRAIN_TIMEOUT", "5s"),
                Map.entry("TOKENTAP_SPOOL_WRITE_TIMEOUT", "200ms")));

        assertThat(settings.proxy().metering().tenantHeader()).isEqualTo("X-Tenant-Id");
        assertThat(settings.proxy().metering().apiKeyHashSecret()).isEqualTo(Secret.of("shared-secret"));
        assertThat(settings.proxy().clients().drainTimeout()).hasSeconds(5);
        assertThat(settings.proxy().publishing().spool().writeTimeout()).hasMillis(200);
        assertThat(settings.aggregator().identity().apiKeyAliases()).containsEntry("key-1", "batch");
        assertThat(settings.aggregator().http().token()).isEqualTo(Secret.of("metrics-token"));
        assertThat(settings.aggregator().limits().modelSeriesCap()).isEqualTo(7);
        assertThat(settings.embeddedKafkaPort()).isNull();
        // Kafka security reaches the proxy's producer and every client of the aggregator
        assertThat(settings.proxy().publishing().kafka()).isEqualTo(settings.aggregator().streams().kafka());
        assertThat(settings.aggregator().streams().kafka().bootstrap()).isEqualTo("kafka-1:9093");
        assertThat(settings.aggregator().streams().kafka().properties()).containsEntry("security.protocol", "SASL_SSL")
                .containsEntry("sasl.mechanism", "SCRAM-SHA-512");
    }

    @Test
    void shouldTakeTheReportsRangeAndKafkaFromTheEnvironment() {
        ReportCommand report = new ReportCommand();

        Cli.commandLine(report, Map.of("TOKENTAP_FROM", "2026-05-01", "TOKENTAP_TO", "2026-06-01",
                "KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9093")).parseArgs();

        assertThat(report.from).isEqualTo("2026-05-01");
        assertThat(report.to).isEqualTo("2026-06-01");
        assertThat(report.kafka).isEqualTo("kafka-1:9093");
    }

    @Test
    void shouldRefuseKafkaSecurityWithTheEmbeddedBroker() {
        assertThat(org.assertj.core.api.Assertions.catchThrowableOfType(ConfigException.class,
                () -> Cli.configure(new RunCommand(), new String[] {"--upstream", "http://127.0.0.1:8000"},
                        Map.of("TOKENTAP_KAFKA_SECURITY_PROTOCOL", "SSL"))).problems())
                .containsExactly("Kafka security settings from TOKENTAP_KAFKA_* (security.protocol) need --kafka: "
                        + "the embedded broker listens in plaintext");
    }

    @Test
    void shouldRefuseABadUpstreamWithEveryOtherProblemBeforeStartingAnything(@TempDir Path dir) throws IOException {
        int brokerPort = freePort();
        Path data = dir.resolve("data");

        Run run = tokentap(Map.of("TOKENTAP_COMMIT_INTERVAL", "100"), "run", "--upstream", "notaurl",
                "--embedded-kafka-port", Integer.toString(brokerPort), "--data-dir", data.toString());

        assertThat(run.exit()).isEqualTo(Cli.EXIT_CONFIGURATION);
        assertThat(run.err()).isEqualTo("tokentap run: invalid configuration: --commit-interval (from "
                + "TOKENTAP_COMMIT_INTERVAL): '100' has no unit: write it as 100ms, 100s or 100m; --upstream must be "
                + "an http:// or https:// URL with a host, got 'notaurl' (see --help)" + System.lineSeparator());
        // no broker took its port, nothing was written
        assertThat(Files.exists(data)).isFalse();
        new ServerSocket(brokerPort).close();
    }

    @Test
    void shouldGiveRunAndDemoThePriceListAndHourlySettingsOfTheAggregator(@TempDir Path dir) throws IOException {
        Path prices = Files.writeString(dir.resolve("prices.yaml"),
                "currency: EUR\nprices:\n  - model: \"*\"\n    prompt_per_million: 0.2\n");

        LocalTokentap.Settings run = Cli.configure(new RunCommand(), new String[] {"--upstream",
                "http://127.0.0.1:8000", "--prices", prices.toString()}, Map.of("TOKENTAP_HOURLY_GRACE", "3m",
                "TOKENTAP_USAGE_RETENTION", "7d"));
        LocalTokentap.Settings demo = Cli.configure(new DemoCommand(), new String[] {"--hourly-grace", "0s"},
                Map.of("TOKENTAP_PRICES", prices.toString()));

        assertThat(run.aggregator().billing().prices().currency()).isEqualTo("EUR");
        assertThat(run.aggregator().billing().hourlyGrace()).hasMinutes(3);
        assertThat(run.aggregator().billing().usageRetention()).hasDays(7);
        assertThat(demo.aggregator().billing().prices().currency()).isEqualTo("EUR");
        assertThat(demo.aggregator().billing().hourlyGrace()).isZero();
    }

    @Test
    void shouldNameEveryProblemOfThePriceListWithTheOtherProblemsOfRun(@TempDir Path dir) throws IOException {
        Path prices = Files.writeString(dir.resolve("prices.json"),
                "{\"currency\":\"dollars\",\"prices\":[{\"model\":\"llama\",\"prompt_per_million\":-1}]}");
        Path data = dir.resolve("data");

        Run run = tokentap(Map.of("TOKENTAP_HOURLY_GRACE", "10"), "run", "--upstream", "notaurl", "--prices",
                prices.toString(), "--data-dir", data.toString());

        assertThat(run.exit()).isEqualTo(Cli.EXIT_CONFIGURATION);
        assertThat(run.err()).startsWith("tokentap run: invalid configuration: ")
                .contains("--hourly-grace (from TOKENTAP_HOURLY_GRACE): '10' has no unit",
                        "--upstream must be an http:// or https:// URL",
                        "--prices " + prices + " has 2 problems: currency: 'dollars' is not an ISO 4217 code",
                        "prices[0].prompt_per_million: must be zero or more, got -1");
        assertThat(Files.exists(data)).isFalse();
    }

    @Test
    void shouldSayInOneLineThatAPortIsTakenBeforeStartingAnything(@TempDir Path dir) throws IOException {
        Path data = dir.resolve("data");
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", 0));
            int port = taken.getLocalPort();

            Run run = tokentap(Map.of(), "run", "--upstream", "http://127.0.0.1:8000", "--listen", "127.0.0.1",
                    "--aggregator-port", "0", "--admin-port", "0", "--proxy-port", Integer.toString(port),
                    "--data-dir", data.toString());

            assertThat(run.exit()).isEqualTo(Cli.EXIT_FAILED);
            assertThat(run.err().lines().toList()).singleElement().asString()
                    .startsWith("tokentap run: cannot listen on 127.0.0.1:" + port + " (--proxy-port): ");
            assertThat(Files.exists(data)).isFalse();
        }
    }

    @Test
    void shouldPrintOneVersionOnEveryCommand() {
        for (List<String> command : List.<List<String>>of(List.of(), List.of("run"), List.of("demo"), List.of("sim"),
                List.of("bench"), List.of("report"))) {
            String[] args = java.util.stream.Stream.concat(command.stream(), java.util.stream.Stream.of("--version"))
                    .toArray(String[]::new);

            Run run = tokentap(Map.of(), args);

            assertThat(run.exit()).as(String.join(" ", args)).isZero();
            assertThat(run.out().strip()).isEqualTo(String.join(" ", java.util.stream.Stream.concat(
                    java.util.stream.Stream.of("tokentap"), command.stream()).toList()) + " " + Version.VERSION);
        }
    }

    @Test
    void shouldReadADurationTheSameWayInEveryCommand() {
        // sim and bench once took a bare number as milliseconds, tap-proxy as seconds; an unknown option keeps
        // either from starting should the number be taken after all
        assertThat(tokentap(Map.of(), "sim", "--ttft", "30", "--not-an-option").err())
                .contains("--ttft: '30' has no unit");
        assertThat(tokentap(Map.of("TOKENTAP_ITL", "10"), "bench", "--not-an-option").err())
                .contains("--itl (from TOKENTAP_ITL): '10' has no unit");
    }

    @Test
    void shouldKeepTheApiKeySecretOfARunAcrossStartsUnlessOneIsGiven(@TempDir Path dir) {
        TapProxyConfig given = TapProxyConfig.fromArgs("--upstream", "http://v", "--api-key-hash-secret", "mine");
        TapProxyConfig none = TapProxyConfig.fromArgs("--upstream", "http://v");

        Secret first = LocalTokentap.withKeptApiKeySecret(none, dir).metering().apiKeyHashSecret();
        Secret second = LocalTokentap.withKeptApiKeySecret(none, dir).metering().apiKeyHashSecret();

        assertThat(first).isNotNull().isEqualTo(second);
        assertThat(LocalTokentap.withKeptApiKeySecret(given, dir).metering().apiKeyHashSecret())
                .isEqualTo(Secret.of("mine"));
        assertThat(dir.resolve(LocalTokentap.API_KEY_SECRET_FILE)).exists();
    }

    @Test
    void shouldKeepTheVllmGenerationOfARun(@TempDir Path dir) {
        TapProxyConfig config = TapProxyConfig.fromArgs("--upstream", "http://v", "--vllm-generation", "legacy",
                "--vllm-force-include-usage", "true");

        Metering metering = LocalTokentap.withKeptApiKeySecret(config, dir).metering();

        assertThat(metering.vllmGeneration()).isEqualTo(VllmGeneration.LEGACY);
        assertThat(metering.forceIncludeUsage()).isTrue();
    }

    @Test
    void shouldNameTheVllmGenerationsAndProfilesOnABadValue() {
        assertThat(tokentap(Map.of(), "sim", "--vllm-profile", "ancient", "--not-an-option").err())
                .contains("--vllm-profile must be current or legacy, got 'ancient'");
        assertThat(tokentap(Map.of("TOKENTAP_VLLM_GENERATION", "ancient"), "run", "--not-an-option").err())
                .contains("--vllm-generation must be auto, current or legacy, got 'ancient'");
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
