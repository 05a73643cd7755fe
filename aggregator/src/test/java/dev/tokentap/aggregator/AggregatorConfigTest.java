package dev.tokentap.aggregator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.aggregator.AggregatorConfig.KubernetesMode;
import java.nio.file.Path;
import java.time.Duration;
import dev.tokentap.aggregator.identity.IdentityResolver;
import dev.tokentap.event.Topics;
import java.nio.file.Files;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AggregatorConfigTest {

    @Test
    void shouldUseTheDefaultsWithoutFlagsOrEnvironment() {
        AggregatorConfig config = AggregatorConfig.fromArgs(new String[0], Map.of());

        assertThat(config.kafka()).isEqualTo("localhost:9092");
        assertThat(config.topic()).isEqualTo("tokentap.usage.v1");
        assertThat(config.topics()).isEqualTo(Topics.DEFAULT);
        assertThat(config.listen()).isEqualTo("0.0.0.0");
        assertThat(config.port()).isEqualTo(9400);
        assertThat(config.stateDir()).isEqualTo(Path.of("./tokentap-state"));
        assertThat(config.applicationId()).isEqualTo("tokentap-aggregator");
        assertThat(config.streamThreads()).isEqualTo(1);
        assertThat(config.topicPartitions()).isEqualTo(6);
        assertThat(config.kubernetes()).isEqualTo(KubernetesMode.AUTO);
        assertThat(config.commitInterval()).isEqualTo(Duration.ofMillis(100));
        assertThat(config.dedupRetention()).isEqualTo(Duration.ofHours(24));
        assertThat(config.kafkaProperties()).isEmpty();
        assertThat(config).isEqualTo(AggregatorConfig.builder().build());
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

        AggregatorConfig config = AggregatorConfig.fromArgs(
                new String[] {"--kafka", "flag-kafka:9092", "--port=0", "--stream-threads", "2"}, env);

        assertThat(config.kafka()).isEqualTo("flag-kafka:9092");
        assertThat(config.port()).isZero();
        assertThat(config.topic()).isEqualTo("env.topic");
        assertThat(config.stateDir()).isEqualTo(Path.of("/var/lib/tokentap"));
        assertThat(config.kubernetes()).isEqualTo(KubernetesMode.OFF);
        assertThat(config.commitInterval()).isEqualTo(Duration.ofSeconds(2));
        assertThat(config.streamThreads()).isEqualTo(2);
    }

    @Test
    void shouldNameTheEnrichedAndDeadLetterTopicsByFlagOrEnvironment() {
        AggregatorConfig config = AggregatorConfig.fromArgs(new String[] {"--topic", "team-a.usage",
                "--enriched-topic", "team-a.enriched"}, Map.of("TOKENTAP_DLQ_TOPIC", "team-a.dlq",
                "TOKENTAP_ENRICHED_TOPIC", "ignored.enriched"));

        assertThat(config.topics()).isEqualTo(new Topics("team-a.usage", "team-a.enriched", Topics.HOURLY,
                "team-a.dlq"));
    }

    @Test
    void shouldRefuseToWriteEnrichedOrDeadLetterRecordsIntoTheUsageTopicOrOneTopic() {
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[] {"--topic", "u", "--enriched-topic", "u",
                "--dlq-topic", "bad topic!"}, Map.of()))
                .hasMessageContaining("--enriched-topic must not be the usage topic it reads, 'u'")
                .hasMessageContaining("--dlq-topic must be a Kafka topic name");
        assertThatThrownBy(() -> AggregatorConfig.builder().enrichedTopic("x").dlqTopic("x").build())
                .hasMessageContaining("--enriched-topic and --dlq-topic must differ");
    }

    @Test
    void shouldPassKafkaPropertiesThroughFromTheEnvironment() {
        AggregatorConfig config = AggregatorConfig.fromArgs(new String[0], Map.of(
                "TOKENTAP_KAFKA_SECURITY_PROTOCOL", "SSL",
                "TOKENTAP_KAFKA_CONSUMER_SESSION_TIMEOUT_MS", "10000",
                "TOKENTAP_KAFKA_", "ignored",
                "KAFKA_SOMETHING", "ignored"));

        assertThat(config.kafkaProperties()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "security.protocol", "SSL",
                "consumer.session.timeout.ms", "10000"));
    }

    @Test
    void shouldReportEveryProblemInOneMessage() {
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[] {
                "--port", "70000", "--topic", "bad topic!", "--stream-threads", "zero", "--topic-partitions", "0",
                "--kubernetes", "sometimes", "--commit-interval", "soon", "--application-id", ""}, Map.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--port must be 0..65535, got 70000")
                .hasMessageContaining("--topic must be a Kafka topic name")
                .hasMessageContaining("--stream-threads has a bad value 'zero': not a number")
                .hasMessageContaining("--topic-partitions must be at least 1")
                .hasMessageContaining("--kubernetes has a bad value 'sometimes': expected auto or off")
                .hasMessageContaining("--commit-interval has a bad value 'soon'")
                .hasMessageContaining("--application-id must be");
    }

    @Test
    void shouldDefaultToEveryNamespaceAndTheDefaultPrecedence() {
        AggregatorConfig.Identity identity = AggregatorConfig.fromArgs(new String[0], Map.of()).identity();

        assertThat(identity).isEqualTo(AggregatorConfig.Identity.DEFAULT);
        assertThat(identity.watchNamespaces()).isEmpty();
        // a header never outranks what the cluster says about a caller
        assertThat(identity.precedence()).containsExactly(IdentityResolver.Signal.WORKLOAD,
                IdentityResolver.Signal.API_KEY, IdentityResolver.Signal.TENANT, IdentityResolver.Signal.ADDRESS);
        assertThat(identity.syncTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(identity.tombstoneRetention()).isEqualTo(Duration.ofMinutes(10));
    }

    @Test
    void shouldReadTheIdentityFlagsAndTheirEnvironment(@TempDir Path dir) throws Exception {
        Path aliases = Files.writeString(dir.resolve("aliases"), "key-1 batch\n");

        AggregatorConfig.Identity identity = AggregatorConfig.fromArgs(new String[] {
                "--watch-namespaces", "team-a, team-b", "--identity-precedence", "workload,address",
                "--api-key-aliases", aliases.toString(), "--kubernetes-sync-timeout", "5s"},
                Map.of("TOKENTAP_POD_LABELS", "app,team", "TOKENTAP_POD_TOMBSTONE_RETENTION", "2m")).identity();

        assertThat(identity.watchNamespaces()).containsExactly("team-a", "team-b");
        assertThat(identity.podLabels()).containsExactly("app", "team");
        assertThat(identity.precedence()).containsExactly(IdentityResolver.Signal.WORKLOAD,
                IdentityResolver.Signal.ADDRESS);
        assertThat(identity.apiKeyAliases()).isEqualTo(aliases);
        assertThat(identity.syncTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(identity.tombstoneRetention()).isEqualTo(Duration.ofMinutes(2));
    }

    @Test
    void shouldReportEveryBadIdentityFlagAtOnce() {
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[] {
                "--identity-precedence", "workload,nickname", "--api-key-aliases", "/no/such/file",
                "--kubernetes-sync-timeout", "later"}, Map.of()))
                .hasMessageContaining("--identity-precedence has a bad value")
                .hasMessageContaining("--api-key-aliases names a file that can't be read")
                .hasMessageContaining("--kubernetes-sync-timeout has a bad value 'later'");
    }

    @Test
    void shouldReportABadEnvironmentValueUnderItsFlag() {
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[0], Map.of("TOKENTAP_PORT", "http")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--port has a bad value 'http'");
    }

    @Test
    void shouldRejectAnUnknownFlag() {
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[] {"--kafak", "x"}, Map.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--kafak");
    }

    @Test
    void shouldValidateWhenBuiltInCode() {
        assertThatThrownBy(() -> AggregatorConfig.builder().kafka(" ").port(-1).streamThreads(0).stateDir(null)
                .build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--kafka")
                .hasMessageContaining("--port")
                .hasMessageContaining("--stream-threads")
                .hasMessageContaining("--state-dir");
    }

    @Test
    void shouldListEveryFlagWithItsDefaultOnHelp() {
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[] {"--help"}, Map.of()))
                .isInstanceOf(AggregatorConfig.HelpRequested.class)
                .hasMessageContaining("--kafka").hasMessageContaining("localhost:9092")
                .hasMessageContaining("--topic").hasMessageContaining("tokentap.usage.v1")
                .hasMessageContaining("--listen").hasMessageContaining("0.0.0.0")
                .hasMessageContaining("--port").hasMessageContaining("9400")
                .hasMessageContaining("--state-dir").hasMessageContaining("./tokentap-state")
                .hasMessageContaining("--application-id").hasMessageContaining("tokentap-aggregator")
                .hasMessageContaining("--stream-threads")
                .hasMessageContaining("--topic-partitions")
                .hasMessageContaining("--kubernetes").hasMessageContaining("auto|off")
                .hasMessageContaining("--commit-interval").hasMessageContaining("100ms")
                .hasMessageContaining("TOKENTAP_KAFKA_");
    }

    @Test
    void shouldParseDurationsInTheUsualUnits() {
        assertThat(AggregatorConfig.parseDuration("250ms")).isEqualTo(Duration.ofMillis(250));
        assertThat(AggregatorConfig.parseDuration("250")).isEqualTo(Duration.ofMillis(250));
        assertThat(AggregatorConfig.parseDuration("3s")).isEqualTo(Duration.ofSeconds(3));
        assertThat(AggregatorConfig.parseDuration("1m")).isEqualTo(Duration.ofMinutes(1));
        assertThat(AggregatorConfig.parseDuration("24h")).isEqualTo(Duration.ofHours(24));
        assertThat(AggregatorConfig.parseDuration("PT0.5S")).isEqualTo(Duration.ofMillis(500));
    }

    @Test
    void shouldCapModelSeriesAtAHundredUnlessTold() {
        assertThat(AggregatorConfig.fromArgs(new String[0], Map.of()).modelSeriesCap()).isEqualTo(100);
        assertThat(AggregatorConfig.fromArgs(new String[0], Map.of("TOKENTAP_MODEL_SERIES_CAP", "7"))
                .modelSeriesCap()).isEqualTo(7);
        assertThat(AggregatorConfig.fromArgs(new String[] {"--model-series-cap", "3"},
                Map.of("TOKENTAP_MODEL_SERIES_CAP", "7")).modelSeriesCap()).isEqualTo(3);
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[] {"--model-series-cap", "0"}, Map.of()))
                .hasMessageContaining("--model-series-cap must be at least 1");
    }

    @Test
    void shouldCapClientSeriesAtFiveHundredUnlessTold() {
        assertThat(AggregatorConfig.fromArgs(new String[0], Map.of()).clientSeriesCap()).isEqualTo(500);
        assertThat(AggregatorConfig.fromArgs(new String[0], Map.of("TOKENTAP_CLIENT_SERIES_CAP", "70"))
                .clientSeriesCap()).isEqualTo(70);
        assertThat(AggregatorConfig.fromArgs(new String[] {"--client-series-cap", "30"},
                Map.of("TOKENTAP_CLIENT_SERIES_CAP", "70")).clientSeriesCap()).isEqualTo(30);
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[] {"--client-series-cap", "0"}, Map.of()))
                .hasMessageContaining("--client-series-cap must be at least 1");
    }

    @Test
    void shouldReadTheDedupRetentionFromItsFlagOrEnvironmentAndRefuseOneTooShort() {
        assertThat(AggregatorConfig.fromArgs(new String[] {"--dedup-retention", "48h"}, Map.of()).dedupRetention())
                .isEqualTo(Duration.ofHours(48));
        assertThat(AggregatorConfig.fromArgs(new String[0], Map.of("TOKENTAP_DEDUP_RETENTION", "90m"))
                .dedupRetention()).isEqualTo(Duration.ofMinutes(90));
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[] {"--dedup-retention", "5s"}, Map.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--dedup-retention must be at least 1m");
    }

    @Test
    void shouldReadTheHttpTokenFromAFileAndNeverPrintIt(@TempDir Path dir) throws Exception {
        Path file = java.nio.file.Files.writeString(dir.resolve("token"), "agg-token\n");

        AggregatorConfig config = AggregatorConfig.fromArgs(new String[0],
                Map.of("TOKENTAP_TOKEN_FILE", file.toString()));

        assertThat(config.token()).isEqualTo("agg-token");
        assertThat(config.toString()).doesNotContain("agg-token").contains("token=***");
        assertThat(AggregatorConfig.fromArgs(new String[0], Map.of()).token()).isNull();
        assertThatThrownBy(() -> AggregatorConfig.fromArgs(new String[] {"--token-file",
                dir.resolve("missing").toString()}, Map.of()))
                .hasMessageContaining("--token-file cannot be read");
    }
}
