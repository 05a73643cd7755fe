package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.tokentap.aggregator.identity.Identity;
import dev.tokentap.aggregator.identity.IdentityResolver;
import dev.tokentap.aggregator.k8s.Kubernetes;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.config.Cli;
import dev.tokentap.config.ConfigException;
import dev.tokentap.config.Secret;
import dev.tokentap.config.Version;
import dev.tokentap.event.Topics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AggregatorConfigTest {

    private static AggregatorConfig config(Map<String, String> env, String... args) {
        return AggregatorConfig.fromArgs(args, env);
    }

    @Test
    void shouldUseTheDefaultsWithoutFlagsOrEnvironment() {
        AggregatorConfig config = config(Map.of());

        assertThat(config.streams().kafka().bootstrap()).isEqualTo("localhost:9092");
        assertThat(config.streams().topics().usage()).isEqualTo("tokentap.usage.v1");
        assertThat(config.streams().topics()).isEqualTo(Topics.DEFAULT);
        assertThat(config.http().listen()).isEqualTo("0.0.0.0");
        assertThat(config.http().port()).isEqualTo(9400);
        assertThat(config.http().token()).isNull();
        assertThat(config.streams().stateDir()).isEqualTo(Path.of("./tokentap-state"));
        assertThat(config.streams().applicationId()).isEqualTo("tokentap-aggregator");
        assertThat(config.streams().threads()).isEqualTo(1);
        assertThat(config.streams().topicPartitions()).isEqualTo(6);
        assertThat(config.streams().commitInterval()).isEqualTo(Duration.ofMillis(100));
        assertThat(config.streams().kafka().properties()).isEmpty();
        assertThat(config.kubernetes().mode()).isEqualTo(Kubernetes.Mode.AUTO);
        // the flags' defaults are the topology's own
        assertThat(config.limits()).isEqualTo(UsageTopology.Limits.DEFAULT);
        assertThat(config.limits().dedupRetention()).isEqualTo(Duration.ofHours(24));
        assertThat(config.limits().modelSeriesCap()).isEqualTo(100);
        assertThat(config.limits().clientSeriesCap()).isEqualTo(500);
    }

    @Test
    void shouldReadTheEnvironmentAndLetFlagsWin() {
        Map<String, String> env = Map.of(
                "KAFKA_BOOTSTRAP_SERVERS", "env-kafka:9092",
                "TOKENTAP_TOPIC", "env.topic",
                "TOKENTAP_PORT", "9999",
                "TOKENTAP_STATE_DIR", "/var/lib/tokentap",
                "TOKENTAP_KUBERNETES", "off",
                "TOKENTAP_COMMIT_INTERVAL", "2s");

        AggregatorConfig config = config(env, "--kafka", "flag-kafka:9092", "--port=0", "--stream-threads", "2");

        assertThat(config.streams().kafka().bootstrap()).isEqualTo("flag-kafka:9092");
        assertThat(config.http().port()).isZero();
        assertThat(config.streams().topics().usage()).isEqualTo("env.topic");
        assertThat(config.streams().stateDir()).isEqualTo(Path.of("/var/lib/tokentap"));
        assertThat(config.kubernetes().mode()).isEqualTo(Kubernetes.Mode.OFF);
        assertThat(config.streams().commitInterval()).isEqualTo(Duration.ofSeconds(2));
        assertThat(config.streams().threads()).isEqualTo(2);
    }

    @Test
    void shouldNameTheEnrichedAndDeadLetterTopicsByFlagOrEnvironment() {
        AggregatorConfig config = config(Map.of("TOKENTAP_DLQ_TOPIC", "team-a.dlq",
                "TOKENTAP_ENRICHED_TOPIC", "ignored.enriched"), "--topic", "team-a.usage",
                "--enriched-topic", "team-a.enriched");

        assertThat(config.streams().topics()).isEqualTo(new Topics("team-a.usage", "team-a.enriched", Topics.HOURLY,
                "team-a.dlq"));
    }

    @Test
    void shouldRefuseToWriteEnrichedOrDeadLetterRecordsIntoTheUsageTopicOrOneTopic() {
        assertThatThrownBy(() -> config(Map.of(), "--topic", "u", "--enriched-topic", "u", "--dlq-topic",
                "bad topic!"))
                .hasMessageContaining("--enriched-topic must not be the usage topic it reads, 'u'")
                .hasMessageContaining("--dlq-topic must be 1 to 249 letters");
        assertThatThrownBy(() -> config(Map.of(), "--enriched-topic", "x", "--dlq-topic", "x"))
                .hasMessageContaining("--enriched-topic and --dlq-topic must differ");
    }

    @Test
    void shouldPassKafkaPropertiesThroughFromTheEnvironment() {
        AggregatorConfig config = config(Map.of(
                "TOKENTAP_KAFKA_SECURITY_PROTOCOL", "SSL",
                "TOKENTAP_KAFKA_CONSUMER_SESSION_TIMEOUT_MS", "10000",
                "TOKENTAP_KAFKA_", "ignored",
                "KAFKA_SOMETHING", "ignored"));

        assertThat(config.streams().kafka().properties()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "security.protocol", "SSL",
                "consumer.session.timeout.ms", "10000"));
    }

    @Test
    void shouldReportEveryProblemInOneMessage() {
        assertThatThrownBy(() -> config(Map.of(), "--port", "70000", "--topic", "bad topic!", "--stream-threads",
                "zero", "--topic-partitions", "0", "--kubernetes", "sometimes", "--commit-interval", "soon",
                "--application-id", "", "--model-series-cap", "0"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--port: must be between 0 and 65535, got 70000")
                .hasMessageContaining("--topic must be 1 to 249 letters")
                .hasMessageContaining("--stream-threads: 'zero' is not an int")
                .hasMessageContaining("--topic-partitions must be at least 1")
                .hasMessageContaining("--kubernetes: expected one of [AUTO, OFF] (case-insensitive) but was "
                        + "'sometimes'")
                .hasMessageContaining("--commit-interval: 'soon' is not a duration")
                .hasMessageContaining("--application-id must be")
                .hasMessageContaining("--model-series-cap must be at least 1");
    }

    @Test
    void shouldDefaultToEveryNamespaceAndTheDefaultPrecedence() {
        AggregatorConfig config = config(Map.of());

        assertThat(config.kubernetes().watchNamespaces()).isEmpty();
        // a header never outranks what the cluster says about a caller
        assertThat(config.identity().precedence()).containsExactly(IdentityResolver.Signal.WORKLOAD,
                IdentityResolver.Signal.API_KEY, IdentityResolver.Signal.TENANT, IdentityResolver.Signal.ADDRESS);
        assertThat(config.identity().apiKeyAliases()).isEmpty();
        assertThat(config.kubernetes().syncTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(config.kubernetes().tombstoneRetention()).isEqualTo(Duration.ofMinutes(10));
    }

    @Test
    void shouldReadTheIdentityFlagsAndTheirEnvironment(@TempDir Path dir) throws Exception {
        Path aliases = Files.writeString(dir.resolve("aliases"), "key-1 batch\n");

        AggregatorConfig config = config(Map.of("TOKENTAP_POD_LABELS", "app,team",
                        "TOKENTAP_POD_TOMBSTONE_RETENTION", "2m"),
                "--watch-namespaces", "team-a, team-b", "--identity-precedence", "workload,address",
                "--api-key-aliases", aliases.toString(), "--kubernetes-sync-timeout", "5s");
        Identity identity = config.identity();
        Kubernetes kubernetes = config.kubernetes();

        assertThat(kubernetes.watchNamespaces()).containsExactly("team-a", "team-b");
        assertThat(kubernetes.podLabels()).containsExactly("app", "team");
        assertThat(identity.precedence()).containsExactly(IdentityResolver.Signal.WORKLOAD,
                IdentityResolver.Signal.ADDRESS);
        assertThat(identity.apiKeyAliasesFile()).isEqualTo(aliases);
        assertThat(identity.apiKeyAliases()).containsExactly(Map.entry("key-1", "batch"));
        assertThat(kubernetes.syncTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(kubernetes.tombstoneRetention()).isEqualTo(Duration.ofMinutes(2));
    }

    @Test
    void shouldReportEveryBadIdentityFlagAtOnce(@TempDir Path dir) throws Exception {
        Path notPairs = Files.writeString(dir.resolve("aliases"), "just-one-word\n");

        assertThatThrownBy(() -> config(Map.of(), "--identity-precedence", "workload,nickname",
                "--api-key-aliases", "/no/such/file", "--kubernetes-sync-timeout", "later"))
                .hasMessageContaining("--identity-precedence: unknown identity signal 'nickname'")
                .hasMessageContaining("--api-key-aliases: cannot read the file /no/such/file")
                .hasMessageContaining("--kubernetes-sync-timeout: 'later' is not a duration");
        // an aliases file that cannot be used is refused before anything starts, not when the aggregator starts
        assertThatThrownBy(() -> config(Map.of(), "--api-key-aliases", notPairs.toString()))
                .hasMessageContaining("--api-key-aliases: " + notPairs + " line 1: expected '<api_key_id> <name>'");
    }

    @Test
    void shouldReportABadEnvironmentValueUnderItsFlagAndVariable() {
        assertThatThrownBy(() -> config(Map.of("TOKENTAP_PORT", "http")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--port (from TOKENTAP_PORT): 'http' is not a port");
    }

    @Test
    void shouldRejectAnUnknownFlag() {
        assertThatThrownBy(() -> config(Map.of(), "--kafak", "x"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--kafak");
    }

    @Test
    void shouldListEveryFlagWithItsVariableAndDefaultOnHelp() {
        Cli.HelpRequested help = catchThrowableOfType(Cli.HelpRequested.class, () -> config(Map.of(), "--help"));

        assertThat(help.getMessage())
                .contains("--kafka", "env TOKENTAP_KAFKA or KAFKA_BOOTSTRAP_SERVERS")
                .contains("--topic", "default tokentap.usage.v1")
                .contains("--listen", "default 0.0.0.0")
                .contains("--port", "env TOKENTAP_PORT; default 9400")
                .contains("--state-dir", "default ./tokentap-state")
                .contains("--application-id", "default tokentap-aggregator")
                .contains("--stream-threads", "--topic-partitions")
                .contains("--kubernetes", "auto|off")
                .contains("--commit-interval", "default 100ms")
                .contains("TOKENTAP_KAFKA_");
    }

    @Test
    void shouldPrintTheProjectVersion() {
        Cli.HelpRequested version = catchThrowableOfType(Cli.HelpRequested.class,
                () -> config(Map.of(), "--version"));

        assertThat(version.getMessage()).isEqualTo("aggregator " + Version.VERSION);
    }

    @Test
    void shouldReadDurationsWithAUnitAndRefuseABareNumber() {
        assertThat(config(Map.of("TOKENTAP_COMMIT_INTERVAL", "250ms")).streams().commitInterval())
                .isEqualTo(Duration.ofMillis(250));
        assertThat(config(Map.of("TOKENTAP_COMMIT_INTERVAL", "PT0.5S")).streams().commitInterval())
                .isEqualTo(Duration.ofMillis(500));
        assertThat(config(Map.of(), "--dedup-retention", "2d").limits().dedupRetention())
                .isEqualTo(Duration.ofDays(2));
        // a bare number once meant milliseconds here and seconds in the proxy: now it means nothing
        assertThatThrownBy(() -> config(Map.of(), "--commit-interval", "250", "--kubernetes-sync-timeout", "30"))
                .hasMessageContaining("--commit-interval: '250' has no unit")
                .hasMessageContaining("--kubernetes-sync-timeout: '30' has no unit");
    }

    @Test
    void shouldCapModelSeriesAtAHundredUnlessTold() {
        assertThat(config(Map.of("TOKENTAP_MODEL_SERIES_CAP", "7")).limits().modelSeriesCap()).isEqualTo(7);
        assertThat(config(Map.of("TOKENTAP_MODEL_SERIES_CAP", "7"), "--model-series-cap", "3").limits()
                .modelSeriesCap()).isEqualTo(3);
        assertThatThrownBy(() -> config(Map.of(), "--model-series-cap", "0"))
                .hasMessageContaining("--model-series-cap must be at least 1");
    }

    @Test
    void shouldCapClientSeriesAtFiveHundredUnlessTold() {
        assertThat(config(Map.of()).limits().clientSeriesCap()).isEqualTo(500);
        assertThat(config(Map.of("TOKENTAP_CLIENT_SERIES_CAP", "70")).limits().clientSeriesCap()).isEqualTo(70);
        assertThat(config(Map.of("TOKENTAP_CLIENT_SERIES_CAP", "70"), "--client-series-cap", "30").limits()
                .clientSeriesCap()).isEqualTo(30);
        assertThatThrownBy(() -> config(Map.of(), "--client-series-cap", "0"))
                .hasMessageContaining("--client-series-cap must be at least 1");
    }

    @Test
    void shouldReadTheDedupRetentionFromItsFlagOrEnvironmentAndRefuseOneTooShort() {
        assertThat(config(Map.of(), "--dedup-retention", "48h").limits().dedupRetention())
                .isEqualTo(Duration.ofHours(48));
        assertThat(config(Map.of("TOKENTAP_DEDUP_RETENTION", "90m")).limits().dedupRetention())
                .isEqualTo(Duration.ofMinutes(90));
        assertThatThrownBy(() -> config(Map.of(), "--dedup-retention", "5s"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--dedup-retention must be at least 1m");
    }

    @Test
    void shouldReadTheHttpTokenFromAFileAndNeverPrintIt(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("token"), "agg-token\n");

        AggregatorConfig config = config(Map.of("TOKENTAP_TOKEN_FILE", file.toString()));

        assertThat(config.http().token()).isEqualTo(Secret.of("agg-token"));
        assertThat(config.toString()).doesNotContain("agg-token");
        assertThatThrownBy(() -> config(Map.of(), "--token-file", dir.resolve("missing").toString()))
                .hasMessageContaining("--token-file: cannot read the file");
    }

    @Test
    void shouldReadPricesAndTheHourlySettingsAndNameTheirProblemsWithTheOthers(@TempDir Path dir) throws Exception {
        Path good = Files.writeString(dir.resolve("prices.yaml"),
                "currency: USD\nprices:\n  - model: llama\n    prompt_per_million: 0.1\n");
        Path bad = Files.writeString(dir.resolve("bad.json"), "{\"currency\":\"usd\",\"prices\":[]}");

        AggregatorConfig config = config(Map.of("TOKENTAP_HOURLY_GRACE", "2m"), "--prices", good.toString(),
                "--usage-retention", "30d");

        assertThat(config.billing().prices().currency()).isEqualTo("USD");
        assertThat(config.billing().hourlyGrace()).isEqualTo(Duration.ofMinutes(2));
        assertThat(config.billing().usageRetention()).isEqualTo(Duration.ofDays(30));
        assertThat(config(Map.of()).billing()).isEqualTo(UsageTopology.Billing.DEFAULT);
        assertThat(catchThrowableOfType(ConfigException.class, () -> config(Map.of(), "--prices", bad.toString(),
                "--hourly-grace", "soon", "--usage-retention", "12h", "--port", "-1")).problems())
                .anySatisfy(p -> assertThat(p).startsWith("--prices " + bad + " has 2 problems")
                        .contains("currency: 'usd' is not an ISO 4217 code", "prices: missing or empty"))
                .anySatisfy(p -> assertThat(p).startsWith("--hourly-grace: 'soon' is not a duration"))
                .anySatisfy(p -> assertThat(p).startsWith("--usage-retention must be at least 1d"))
                .anySatisfy(p -> assertThat(p).startsWith("--port:"));
        assertThatThrownBy(() -> config(Map.of(), "--hourly-grace", "10"))
                .hasMessageContaining("--hourly-grace");
    }
}
