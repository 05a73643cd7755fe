package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.tokentap.config.Cli;
import dev.tokentap.config.ConfigException;
import dev.tokentap.config.Secret;
import dev.tokentap.config.Version;
import dev.tokentap.proxy.http.ClientLimits;
import dev.tokentap.proxy.publish.Publishing;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TapProxyConfigTest {

    private static final Map<String, String> NO_ENV = Map.of();
    private static final String[] UPSTREAM = {"--upstream", "http://vllm:8000"};

    private static TapProxyConfig config(Map<String, String> env, String... args) {
        return TapProxyConfig.fromArgs(args, env);
    }

    @Test
    void shouldUseTheDefaultsWhenOnlyTheUpstreamIsGiven() {
        TapProxyConfig config = config(Map.of("HOSTNAME", "pod-7"), UPSTREAM);

        assertThat(config.upstream().url()).isEqualTo(URI.create("http://vllm:8000"));
        assertThat(config.upstream().authority()).isEqualTo("vllm:8000");
        assertThat(config.upstream().connectTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(config.upstream().timeout()).isEqualTo(Duration.ofSeconds(600));
        assertThat(config.publishing().kafka().bootstrap()).isEqualTo("localhost:9092");
        assertThat(config.publishing().kafka().properties()).isEmpty();
        assertThat(config.publishing().topic()).isEqualTo("tokentap.usage.v1");
        assertThat(config.publishing().queue()).isEqualTo(100_000);
        assertThat(config.listen()).isEqualTo("0.0.0.0");
        assertThat(config.port()).isEqualTo(3000);
        assertThat(config.admin().port()).isEqualTo(3001);
        assertThat(config.metering().apiKeyHashSecret()).isNull();
        assertThat(config.metering().tenantHeader()).isNull();
        assertThat(config.metering().proxyHost()).isEqualTo("pod-7");
    }

    @Test
    void shouldReadEverySettingFromTheEnvironment() {
        TapProxyConfig config = config(Map.ofEntries(
                Map.entry("TOKENTAP_UPSTREAM", "https://vllm.internal"),
                Map.entry("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092"),
                Map.entry("TOKENTAP_TOPIC", "usage.test"),
                Map.entry("TOKENTAP_LISTEN", "127.0.0.1"),
                Map.entry("TOKENTAP_PORT", "0"),
                Map.entry("TOKENTAP_ADMIN_PORT", "0"),
                Map.entry("TOKENTAP_CONNECT_TIMEOUT", "250ms"),
                Map.entry("TOKENTAP_UPSTREAM_TIMEOUT", "2m"),
                Map.entry("TOKENTAP_API_KEY_HASH_SECRET", "s3cret"),
                Map.entry("TOKENTAP_TENANT_HEADER", "X-Tenant-Id"),
                Map.entry("TOKENTAP_TRUSTED_PROXIES", "10.0.0.7"),
                Map.entry("TOKENTAP_PROXY_HOST", "proxy-a"),
                Map.entry("TOKENTAP_PUBLISH_QUEUE", "50"),
                Map.entry("HOSTNAME", "ignored")));

        assertThat(config.upstream().url()).isEqualTo(URI.create("https://vllm.internal"));
        assertThat(config.publishing().kafka().bootstrap()).isEqualTo("k1:9092,k2:9092");
        assertThat(config.publishing().topic()).isEqualTo("usage.test");
        assertThat(config.listen()).isEqualTo("127.0.0.1");
        assertThat(config.port()).isZero();
        assertThat(config.admin().port()).isZero();
        assertThat(config.upstream().connectTimeout()).isEqualTo(Duration.ofMillis(250));
        assertThat(config.upstream().timeout()).isEqualTo(Duration.ofMinutes(2));
        assertThat(config.metering().apiKeyHashSecret()).isEqualTo(Secret.of("s3cret"));
        assertThat(config.metering().tenantHeader()).isEqualTo("X-Tenant-Id");
        assertThat(config.metering().proxyHost()).isEqualTo("proxy-a");
        assertThat(config.publishing().queue()).isEqualTo(50);
    }

    @Test
    void shouldLetAFlagWinOverTheEnvironment() {
        TapProxyConfig config = config(
                Map.of("TOKENTAP_UPSTREAM", "http://env:8000", "TOKENTAP_PORT", "5000",
                        "KAFKA_BOOTSTRAP_SERVERS", "env:9092", "TOKENTAP_PROXY_HOST", "env-host"),
                "--upstream", "http://flag:8000", "--port", "4000", "--kafka", "flag:9092", "--proxy-host", "flag-host");

        assertThat(config.upstream().url().getHost()).isEqualTo("flag");
        assertThat(config.port()).isEqualTo(4000);
        assertThat(config.publishing().kafka().bootstrap()).isEqualTo("flag:9092");
        assertThat(config.metering().proxyHost()).isEqualTo("flag-host");
    }

    @Test
    void shouldPassKafkaPropertiesThroughFromTheEnvironment() {
        TapProxyConfig config = config(Map.of(
                "TOKENTAP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL",
                "TOKENTAP_KAFKA_SASL_JAAS_CONFIG", "x required;",
                "TOKENTAP_KAFKA_MAX_BLOCK_MS", "10000",
                "TOKENTAP_KAFKAESQUE", "not one",
                "OTHER_KAFKA_THING", "no"), UPSTREAM);

        assertThat(config.publishing().kafka().properties()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "security.protocol", "SASL_SSL",
                "sasl.jaas.config", "x required;",
                "max.block.ms", "10000"));
    }

    @Test
    void shouldReportEveryProblemAtOnce() {
        assertThatThrownBy(() -> config(Map.of("TOKENTAP_MAX_THREADS", "many"),
                "--port", "70000", "--admin-port", "abc", "--topic", "bad topic!", "--connect-timeout", "0s",
                "--upstream-timeout", "soon", "--publish-queue", "0", "--tenant-header", "X Tenant",
                "--drain-timeout", "30"))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("invalid configuration: ")
                .hasMessageContaining("--upstream is required")
                .hasMessageContaining("--port: must be between 0 and 65535, got 70000")
                .hasMessageContaining("--admin-port: 'abc' is not a port")
                .hasMessageContaining("--topic must be 1 to 249 letters, digits, '.', '_' or '-', got 'bad topic!'")
                .hasMessageContaining("--connect-timeout must be more than zero")
                .hasMessageContaining("--upstream-timeout: 'soon' is not a duration")
                .hasMessageContaining("--publish-queue must be at least 1")
                .hasMessageContaining("--tenant-header must be an HTTP header name")
                .hasMessageContaining("--drain-timeout: '30' has no unit")
                .hasMessageContaining("--max-threads (from TOKENTAP_MAX_THREADS): 'many' is not an int");
    }

    @Test
    void shouldReportAnUnreadableValueOnce() {
        ConfigException e = catchThrowableOfType(ConfigException.class,
                () -> config(NO_ENV, "--upstream", "ht tp://x"));

        assertThat(e.problems()).hasSize(1).first().asString().startsWith("--upstream: ");
    }

    @Test
    void shouldRefuseAnUpstreamThatIsNotHttp() {
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "ftp://vllm"))
                .hasMessageContaining("--upstream must be an http:// or https:// URL");
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "vllm:8000"))
                .hasMessageContaining("--upstream must be an http:// or https:// URL");
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "notaurl"))
                .hasMessageContaining("--upstream must be an http:// or https:// URL");
    }

    @Test
    void shouldRefuseTheSamePortTwiceButAllowPortZeroTwice() {
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://v", "--port", "8080", "--admin-port", "8080"))
                .hasMessageContaining("--port and --admin-port must differ");
        assertThat(config(NO_ENV, "--upstream", "http://v", "--port", "0", "--admin-port", "0").port()).isZero();
    }

    @Test
    void shouldRefuseUnknownFlags() {
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://v", "--nope"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--nope");
    }

    @Test
    void shouldListEveryFlagWithItsVariableAndDefaultInTheHelp() {
        Cli.HelpRequested help = catchThrowableOfType(Cli.HelpRequested.class, () -> config(NO_ENV, "--help"));

        assertThat(help.getMessage())
                .contains("--upstream", "--kafka", "--topic", "--listen", "--port", "--admin-port",
                        "--connect-timeout", "--upstream-timeout", "--api-key-hash-secret", "--tenant-header",
                        "--proxy-host", "--publish-queue", "--request-memory-budget", "TOKENTAP_KAFKA_")
                .contains("env TOKENTAP_UPSTREAM", "env TOKENTAP_KAFKA or KAFKA_BOOTSTRAP_SERVERS",
                        "env TOKENTAP_PROXY_HOST or HOSTNAME", "env TOKENTAP_TOPIC; default tokentap.usage.v1",
                        "env TOKENTAP_UPSTREAM_TIMEOUT; default 600s", "env TOKENTAP_PORT; default 3000");
    }

    @Test
    void shouldPrintTheProjectVersion() {
        Cli.HelpRequested version = catchThrowableOfType(Cli.HelpRequested.class,
                () -> config(NO_ENV, "--version"));

        assertThat(version.getMessage()).isEqualTo("tap-proxy " + Version.VERSION);
    }

    @Test
    void shouldKeepSecretsOutOfToString(@TempDir Path dir) throws Exception {
        Path token = Files.writeString(dir.resolve("token"), "admin-token\n");
        TapProxyConfig config = config(Map.of("TOKENTAP_KAFKA_SASL_JAAS_CONFIG", "password=hunter2",
                "TOKENTAP_ADMIN_TOKEN_FILE", token.toString()), "--upstream", "http://v",
                "--api-key-hash-secret", "s3cret-value");

        assertThat(config.toString()).doesNotContain("s3cret-value").doesNotContain("hunter2")
                .doesNotContain("admin-token").contains("sasl.jaas.config");
    }

    @Test
    void shouldReadDurationsWithAUnitAndRefuseABareNumber() {
        assertThat(config(Map.of("TOKENTAP_DRAIN_TIMEOUT", "500ms"), UPSTREAM).clients().drainTimeout())
                .isEqualTo(Duration.ofMillis(500));
        assertThat(config(Map.of("TOKENTAP_DRAIN_TIMEOUT", "PT2S"), UPSTREAM).clients().drainTimeout())
                .isEqualTo(Duration.ofSeconds(2));
        assertThat(config(Map.of("TOKENTAP_DRAIN_TIMEOUT", "0"), UPSTREAM).clients().drainTimeout()).isZero();
        // a bare number once meant seconds here and milliseconds in the aggregator: now it means nothing
        assertThatThrownBy(() -> config(Map.of("TOKENTAP_DRAIN_TIMEOUT", "30"), UPSTREAM))
                .hasMessageContaining("--drain-timeout (from TOKENTAP_DRAIN_TIMEOUT): '30' has no unit");
    }

    @Test
    void shouldAskForContinuousUsageUnlessTurnedOff() {
        TapProxyConfig byDefault = config(NO_ENV, UPSTREAM);
        TapProxyConfig byEnv = config(Map.of("TOKENTAP_CONTINUOUS_USAGE", "false"), UPSTREAM);
        TapProxyConfig byFlag = config(Map.of("TOKENTAP_CONTINUOUS_USAGE", "true"), "--upstream", "http://vllm:8000",
                "--continuous-usage", "off");

        assertThat(byDefault.metering().continuousUsage()).isTrue();
        assertThat(byEnv.metering().continuousUsage()).isFalse();
        assertThat(byFlag.metering().continuousUsage()).isFalse();
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--continuous-usage", "maybe"))
                .hasMessageContaining("--continuous-usage");
    }

    @Test
    void shouldSpoolToADirectoryByDefaultAndTakeItsFlagsOrNone() {
        assertThat(config(NO_ENV, UPSTREAM).publishing().spool())
                .isEqualTo(new Publishing.Spool(Path.of("./tokentap-spool"), 1L << 30));
        assertThat(config(Map.of("TOKENTAP_SPOOL_DIR", "/var/spool/tokentap"), "--upstream", "http://vllm:8000",
                "--spool-max-bytes", "2MiB").publishing().spool())
                .isEqualTo(new Publishing.Spool(Path.of("/var/spool/tokentap"), 2L << 20));
        assertThat(config(NO_ENV, "--upstream", "http://vllm:8000", "--spool-dir", "none").publishing().spool())
                .isNull();
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--spool-max-bytes", "10"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--spool-max-bytes must be at least 1048576");
    }

    @Test
    void shouldHoldAResponseEndAtMostOneSecondForItsSpoolWriteUnlessTold() {
        assertThat(config(NO_ENV, UPSTREAM).publishing().spool().writeTimeout()).isEqualTo(Duration.ofSeconds(1));
        assertThat(config(Map.of("TOKENTAP_SPOOL_WRITE_TIMEOUT", "250ms"), UPSTREAM).publishing().spool()
                .writeTimeout()).isEqualTo(Duration.ofMillis(250));
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--spool-write-timeout", "0"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--spool-write-timeout must be at least 1ms");
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--spool-write-timeout", "5"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--spool-write-timeout");
    }

    @Test
    void shouldDrainForThirtySecondsUnlessTold() {
        assertThat(config(NO_ENV, UPSTREAM).clients().drainTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(config(Map.of("TOKENTAP_DRAIN_TIMEOUT", "90s"), UPSTREAM).clients().drainTimeout())
                .isEqualTo(Duration.ofSeconds(90));
    }

    @Test
    void shouldReadTheApiKeyHashSecretFromAFile(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("secret"), "from-a-file\n");

        TapProxyConfig config = config(Map.of("TOKENTAP_API_KEY_HASH_SECRET_FILE", file.toString()), UPSTREAM);

        assertThat(config.metering().apiKeyHashSecret()).isEqualTo(Secret.of("from-a-file"));
        assertThat(config.toString()).doesNotContain("from-a-file");
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000",
                "--api-key-hash-secret-file", dir.resolve("missing").toString()))
                .hasMessageContaining("--api-key-hash-secret-file: cannot read the file");
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000",
                "--api-key-hash-secret-file", file.toString(), "--api-key-hash-secret", "x"))
                .hasMessageContaining("both set");
    }

    @Test
    void shouldBindTheAdminPortApartAndReadItsTokenFromAFile(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("token"), "admin-token\n");

        TapProxyConfig config = config(Map.of("TOKENTAP_ADMIN_TOKEN_FILE", file.toString()), "--upstream",
                "http://vllm:8000", "--admin-listen", "127.0.0.1");

        assertThat(config.admin().listen()).isEqualTo("127.0.0.1");
        assertThat(config.admin().token()).isEqualTo(Secret.of("admin-token"));
        TapProxyConfig defaults = config(NO_ENV, UPSTREAM);
        assertThat(defaults.admin().listen()).isEqualTo(defaults.listen());
        assertThat(defaults.admin().token()).isNull();
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--admin-token-file",
                Files.writeString(dir.resolve("empty"), "").toString()))
                .hasMessageContaining("--admin-token-file: the file").hasMessageContaining("is empty");
    }

    @Test
    void shouldLimitRequestBodiesTo32MiBUnlessToldInBytesOrBinaryUnits() {
        assertThat(config(NO_ENV, UPSTREAM).clients().maxRequestBytes()).isEqualTo(32L << 20);
        assertThat(config(Map.of("TOKENTAP_MAX_REQUEST_BYTES", "10MiB"), UPSTREAM).clients().maxRequestBytes())
                .isEqualTo(10L << 20);
        assertThat(config(NO_ENV, "--upstream", "http://vllm:8000", "--max-request-bytes", "4096").clients()
                .maxRequestBytes()).isEqualTo(4096);
        assertThat(config(NO_ENV, "--upstream", "http://vllm:8000", "--max-request-bytes", "2 GiB",
                "--request-memory-budget", "2GiB").clients().maxRequestBytes()).isEqualTo(2L << 30);
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--max-request-bytes", "lots"))
                .hasMessageContaining("--max-request-bytes: 'lots' is not a size");
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--max-request-bytes", "0"))
                .hasMessageContaining("--max-request-bytes must be at least 1");
    }

    @Test
    void shouldGiveHeldBodiesA32MiBBudgetThatOneLargestBodyMustFit() {
        assertThat(config(NO_ENV, UPSTREAM).clients().requestMemoryBudget()).isEqualTo(32L << 20);
        assertThat(config(Map.of("TOKENTAP_REQUEST_MEMORY_BUDGET", "64MiB"), UPSTREAM).clients()
                .requestMemoryBudget()).isEqualTo(64L << 20);
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--max-request-bytes", "48MiB"))
                .hasMessageContaining("--request-memory-budget must be at least --max-request-bytes");
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--request-memory-budget",
                "plenty"))
                .hasMessageContaining("--request-memory-budget: 'plenty' is not a size");
    }

    @Test
    void shouldRefuseATenantHeaderWithoutTrustedProxiesToBelieveItFrom() {
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--tenant-header", "X-Tenant-Id"))
                .hasMessageContaining("--tenant-header is believed only from --trusted-proxies");
        assertThat(config(NO_ENV, "--upstream", "http://vllm:8000", "--tenant-header", "X-Tenant-Id",
                "--trusted-proxies", "10.1.0.0/16").metering().tenantHeader()).isEqualTo("X-Tenant-Id");
    }

    @Test
    void shouldTrustNoProxyUnlessToldAndReportABadEntry() {
        assertThat(config(NO_ENV, UPSTREAM).metering().trustedProxies().isEmpty()).isTrue();
        assertThat(config(Map.of("TOKENTAP_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.2"), UPSTREAM).metering()
                .trustedProxies().trusts("10.20.30.40")).isTrue();
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000",
                "--trusted-proxies", "10.0.0.0/8,lb.internal"))
                .hasMessageContaining("--trusted-proxies: not an IP address or CIDR range: 'lb.internal'");
    }

    @Test
    void shouldCloseSilentClientsAfterFiveMinutesUnlessTold() {
        assertThat(config(NO_ENV, UPSTREAM).clients().idleTimeout()).isEqualTo(Duration.ofMinutes(5));
        assertThat(config(Map.of("TOKENTAP_CLIENT_IDLE_TIMEOUT", "20s"), UPSTREAM).clients().idleTimeout())
                .isEqualTo(Duration.ofSeconds(20));
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--client-idle-timeout", "0s"))
                .hasMessageContaining("--client-idle-timeout must be more than zero");
    }

    @Test
    void shouldGiveClientsTenSecondsForTheirHeadersUnlessTold() {
        assertThat(config(NO_ENV, UPSTREAM).clients().headerTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(config(Map.of("TOKENTAP_CLIENT_HEADER_TIMEOUT", "3s"), UPSTREAM).clients().headerTimeout())
                .isEqualTo(Duration.ofSeconds(3));
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--client-header-timeout", "0s"))
                .hasMessageContaining("--client-header-timeout must be more than zero");
    }

    @Test
    void shouldLimitHeadersTo8KiBUnlessToldWithinSaneBounds() {
        assertThat(config(NO_ENV, UPSTREAM).clients().maxHeaderBytes()).isEqualTo(8192);
        assertThat(config(Map.of("TOKENTAP_MAX_HEADER_BYTES", "16KiB"), UPSTREAM).clients().maxHeaderBytes())
                .isEqualTo(16384);
        assertThat(config(NO_ENV, "--upstream", "http://vllm:8000", "--max-header-bytes", "4096").clients()
                .maxHeaderBytes()).isEqualTo(4096);
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--max-header-bytes", "100",
                "--client-min-request-rate", "-1"))
                .hasMessageContaining("--max-header-bytes must be between 1024 and 1048576")
                .hasMessageContaining("--client-min-request-rate: '-1' is not a size");
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--max-header-bytes", "4GiB"))
                .hasMessageContaining("--max-header-bytes must be between");
    }

    @Test
    void shouldSetNoMinimumBodyRateUnlessTold() {
        assertThat(config(NO_ENV, UPSTREAM).clients().minRequestRate()).isZero();
        assertThat(config(Map.of("TOKENTAP_CLIENT_MIN_REQUEST_RATE", "2KiB"), UPSTREAM).clients().minRequestRate())
                .isEqualTo(2048);
    }

    @Test
    void shouldSizeThreadsByCoresUnlessToldAndRefuseTooFew() {
        assertThat(config(NO_ENV, UPSTREAM).clients().maxThreads())
                .isEqualTo(ClientLimits.defaultMaxThreads()).isGreaterThanOrEqualTo(16);
        assertThat(config(Map.of("TOKENTAP_MAX_THREADS", "40"), UPSTREAM).clients().maxThreads()).isEqualTo(40);
        assertThatThrownBy(() -> config(NO_ENV, "--upstream", "http://vllm:8000", "--max-threads", "2"))
                .hasMessageContaining("--max-threads must be at least 8, got 2");
    }
}
