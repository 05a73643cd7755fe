package dev.tokentap.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TapProxyConfigTest {

    private static final Map<String, String> NO_ENV = Map.of();

    @Test
    void shouldUseTheDefaultsWhenOnlyTheUpstreamIsGiven() {
        TapProxyConfig config = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000"},
                Map.of("HOSTNAME", "pod-7"));

        assertThat(config.upstream()).isEqualTo(URI.create("http://vllm:8000"));
        assertThat(config.upstreamAuthority()).isEqualTo("vllm:8000");
        assertThat(config.kafkaBootstrap()).isEqualTo("localhost:9092");
        assertThat(config.topic()).isEqualTo("tokentap.usage.v1");
        assertThat(config.listenHost()).isEqualTo("0.0.0.0");
        assertThat(config.port()).isEqualTo(3000);
        assertThat(config.adminPort()).isEqualTo(3001);
        assertThat(config.connectTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(config.upstreamTimeout()).isEqualTo(Duration.ofSeconds(600));
        assertThat(config.apiKeyHashSecret()).isNull();
        assertThat(config.tenantHeader()).isNull();
        assertThat(config.proxyHost()).isEqualTo("pod-7");
        assertThat(config.publishQueue()).isEqualTo(100_000);
        assertThat(config.kafkaProperties()).isEmpty();
    }

    @Test
    void shouldReadEverySettingFromTheEnvironment() {
        TapProxyConfig config = TapProxyConfig.fromArgs(new String[0], Map.ofEntries(
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

        assertThat(config.upstream()).isEqualTo(URI.create("https://vllm.internal"));
        assertThat(config.kafkaBootstrap()).isEqualTo("k1:9092,k2:9092");
        assertThat(config.topic()).isEqualTo("usage.test");
        assertThat(config.listenHost()).isEqualTo("127.0.0.1");
        assertThat(config.port()).isZero();
        assertThat(config.adminPort()).isZero();
        assertThat(config.connectTimeout()).isEqualTo(Duration.ofMillis(250));
        assertThat(config.upstreamTimeout()).isEqualTo(Duration.ofMinutes(2));
        assertThat(config.apiKeyHashSecret()).isEqualTo("s3cret");
        assertThat(config.tenantHeader()).isEqualTo("X-Tenant-Id");
        assertThat(config.proxyHost()).isEqualTo("proxy-a");
        assertThat(config.publishQueue()).isEqualTo(50);
    }

    @Test
    void shouldLetAFlagWinOverTheEnvironment() {
        TapProxyConfig config = TapProxyConfig.fromArgs(
                new String[] {"--upstream", "http://flag:8000", "--port", "4000", "--kafka", "flag:9092",
                    "--proxy-host", "flag-host"},
                Map.of("TOKENTAP_UPSTREAM", "http://env:8000", "TOKENTAP_PORT", "5000",
                        "KAFKA_BOOTSTRAP_SERVERS", "env:9092", "TOKENTAP_PROXY_HOST", "env-host"));

        assertThat(config.upstream().getHost()).isEqualTo("flag");
        assertThat(config.port()).isEqualTo(4000);
        assertThat(config.kafkaBootstrap()).isEqualTo("flag:9092");
        assertThat(config.proxyHost()).isEqualTo("flag-host");
    }

    @Test
    void shouldPassKafkaPropertiesThroughFromTheEnvironment() {
        TapProxyConfig config = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000"}, Map.of(
                "TOKENTAP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL",
                "TOKENTAP_KAFKA_SASL_JAAS_CONFIG", "x required;",
                "TOKENTAP_KAFKA_MAX_BLOCK_MS", "10000",
                "TOKENTAP_KAFKAESQUE", "not one",
                "OTHER_KAFKA_THING", "no"));

        assertThat(config.kafkaProperties()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "security.protocol", "SASL_SSL",
                "sasl.jaas.config", "x required;",
                "max.block.ms", "10000"));
    }

    @Test
    void shouldReportEveryProblemAtOnce() {
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {
            "--port", "70000", "--admin-port", "abc", "--topic", "bad topic!", "--connect-timeout", "0s",
            "--upstream-timeout", "soon", "--publish-queue", "0", "--tenant-header", "X Tenant"}, NO_ENV))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid configuration: ")
                .hasMessageContaining("--upstream is required")
                .hasMessageContaining("--port must be between 0 and 65535, got 70000")
                .hasMessageContaining("--admin-port cannot be read from 'abc'")
                .hasMessageContaining("--topic must be a Kafka topic name")
                .hasMessageContaining("--connect-timeout must be a positive duration")
                .hasMessageContaining("--upstream-timeout cannot be read from 'soon'")
                .hasMessageContaining("--publish-queue must be at least 1")
                .hasMessageContaining("--tenant-header must be an HTTP header name");
    }

    @Test
    void shouldReportAnUnreadableValueOnce() {
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "ht tp://x"}, NO_ENV))
                .hasMessage("invalid configuration: --upstream cannot be read from 'ht tp://x'");
    }

    @Test
    void shouldRefuseAnUpstreamThatIsNotHttp() {
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "ftp://vllm"}, NO_ENV))
                .hasMessageContaining("--upstream must be an http:// or https:// URL");
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "vllm:8000"}, NO_ENV))
                .hasMessageContaining("--upstream must be an http:// or https:// URL");
    }

    @Test
    void shouldRefuseTheSamePortTwiceButAllowPortZeroTwice() {
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(
                new String[] {"--upstream", "http://v", "--port", "8080", "--admin-port", "8080"}, NO_ENV))
                .hasMessageContaining("--port and --admin-port must differ");
        assertThat(TapProxyConfig.fromArgs(
                new String[] {"--upstream", "http://v", "--port", "0", "--admin-port", "0"}, NO_ENV).port()).isZero();
    }

    @Test
    void shouldRefuseUnknownFlags() {
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://v", "--nope"}, NO_ENV))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--nope");
    }

    @Test
    void shouldListEveryFlagWithItsDefaultInTheHelp() {
        TapProxyConfig.HelpRequested help = org.assertj.core.api.Assertions.catchThrowableOfType(
                TapProxyConfig.HelpRequested.class,
                () -> TapProxyConfig.fromArgs(new String[] {"--help"}, Map.of("TOKENTAP_PORT", "4000")));

        assertThat(help.usage())
                .contains("--upstream", "--kafka", "--topic", "--listen", "--port", "--admin-port",
                        "--connect-timeout", "--upstream-timeout", "--api-key-hash-secret", "--tenant-header",
                        "--proxy-host", "--publish-queue", "--request-memory-budget", "TOKENTAP_KAFKA_")
                .contains("default: localhost:9092", "default: tokentap.usage.v1", "default: 600s",
                        "default: 4000");
    }

    @Test
    void shouldBuildInCodeFromTheDefaults() {
        TapProxyConfig config = TapProxyConfig.builder(URI.create("http://127.0.0.1:8000")).port(0).adminPort(0)
                .apiKeyHashSecret("x").build();

        assertThat(config.topic()).isEqualTo("tokentap.usage.v1");
        assertThat(config.proxyHost()).isNotBlank();
    }

    @Test
    void shouldKeepTheSecretOutOfToString() {
        TapProxyConfig config = TapProxyConfig.builder(URI.create("http://v")).apiKeyHashSecret("s3cret-value")
                .kafkaProperties(Map.of("sasl.jaas.config", "password=hunter2")).build();

        assertThat(config.toString()).doesNotContain("s3cret-value").doesNotContain("hunter2");
    }

    @Test
    void shouldReadDurationsInSeveralSpellings() {
        assertThat(TapProxyConfig.duration("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(TapProxyConfig.duration("5s")).isEqualTo(Duration.ofSeconds(5));
        assertThat(TapProxyConfig.duration("10m")).isEqualTo(Duration.ofMinutes(10));
        assertThat(TapProxyConfig.duration("1h")).isEqualTo(Duration.ofHours(1));
        assertThat(TapProxyConfig.duration("PT2S")).isEqualTo(Duration.ofSeconds(2));
        assertThat(TapProxyConfig.duration("30")).isEqualTo(Duration.ofSeconds(30));
    }

    @Test
    void shouldAskForContinuousUsageUnlessTurnedOff() {
        TapProxyConfig byDefault = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000"}, NO_ENV);
        TapProxyConfig byEnv = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000"},
                Map.of("TOKENTAP_CONTINUOUS_USAGE", "false"));
        TapProxyConfig byFlag = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--continuous-usage", "off"}, Map.of("TOKENTAP_CONTINUOUS_USAGE", "true"));

        assertThat(byDefault.continuousUsage()).isTrue();
        assertThat(byEnv.continuousUsage()).isFalse();
        assertThat(byFlag.continuousUsage()).isFalse();
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--continuous-usage", "maybe"}, NO_ENV)).hasMessageContaining("--continuous-usage");
    }

    @Test
    void shouldSpoolToADirectoryByDefaultAndTakeItsFlagsOrNone() {
        TapProxyConfig defaults = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000"}, Map.of());
        assertThat(defaults.spool()).isEqualTo(new TapProxyConfig.Spool(java.nio.file.Path.of("./tokentap-spool"),
                1L << 30));

        TapProxyConfig set = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--spool-max-bytes", "2097152"}, Map.of("TOKENTAP_SPOOL_DIR", "/var/spool/tokentap"));
        assertThat(set.spool()).isEqualTo(new TapProxyConfig.Spool(java.nio.file.Path.of("/var/spool/tokentap"),
                2_097_152));

        assertThat(TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000", "--spool-dir", "none"},
                Map.of()).spool()).isNull();
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--spool-max-bytes", "10"}, Map.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--spool-max-bytes must be at least 1048576");
    }

    @Test
    void shouldDrainForThirtySecondsUnlessTold() {
        assertThat(TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000"}, Map.of()).drainTimeout())
                .isEqualTo(Duration.ofSeconds(30));
        assertThat(TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000"},
                Map.of("TOKENTAP_DRAIN_TIMEOUT", "90s")).drainTimeout()).isEqualTo(Duration.ofSeconds(90));
    }

    @Test
    void shouldReadTheApiKeyHashSecretFromAFile(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path file = java.nio.file.Files.writeString(dir.resolve("secret"), "from-a-file\n");

        TapProxyConfig config = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000"},
                Map.of("TOKENTAP_API_KEY_HASH_SECRET_FILE", file.toString()));

        assertThat(config.apiKeyHashSecret()).isEqualTo("from-a-file");
        assertThat(config.toString()).doesNotContain("from-a-file");
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--api-key-hash-secret-file", dir.resolve("missing").toString()}, Map.of()))
                .hasMessageContaining("--api-key-hash-secret-file cannot be read");
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--api-key-hash-secret-file", file.toString(), "--api-key-hash-secret", "x"}, Map.of()))
                .hasMessageContaining("both set");
    }

    @Test
    void shouldBindTheAdminPortApartAndReadItsTokenFromAFile(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path file = java.nio.file.Files.writeString(dir.resolve("token"), "admin-token\n");

        TapProxyConfig config = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--admin-listen", "127.0.0.1"}, Map.of("TOKENTAP_ADMIN_TOKEN_FILE", file.toString()));

        assertThat(config.adminListen()).isEqualTo("127.0.0.1");
        assertThat(config.adminToken()).isEqualTo("admin-token");
        assertThat(config.toString()).doesNotContain("admin-token").contains("adminToken=***");
        TapProxyConfig defaults = TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000"}, Map.of());
        assertThat(defaults.adminListen()).isEqualTo(defaults.listenHost());
        assertThat(defaults.adminToken()).isNull();
    }

    @Test
    void shouldLimitRequestBodiesTo32MiBUnlessToldInBytesOrBinaryUnits() {
        String[] upstream = {"--upstream", "http://vllm:8000"};
        assertThat(TapProxyConfig.fromArgs(upstream, NO_ENV).maxRequestBytes()).isEqualTo(32L << 20);
        assertThat(TapProxyConfig.fromArgs(upstream, Map.of("TOKENTAP_MAX_REQUEST_BYTES", "10MiB"))
                .maxRequestBytes()).isEqualTo(10L << 20);
        assertThat(TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000", "--max-request-bytes",
                "4096"}, NO_ENV).maxRequestBytes()).isEqualTo(4096);
        assertThat(TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000", "--max-request-bytes",
                "2 GiB", "--request-memory-budget", "2GiB"}, NO_ENV).maxRequestBytes()).isEqualTo(2L << 30);
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--max-request-bytes", "lots"}, NO_ENV))
                .hasMessageContaining("--max-request-bytes cannot be read from 'lots'");
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--max-request-bytes", "0"}, NO_ENV))
                .hasMessageContaining("--max-request-bytes must be at least 1");
    }

    @Test
    void shouldGiveHeldBodiesA32MiBBudgetThatOneLargestBodyMustFit() {
        String[] upstream = {"--upstream", "http://vllm:8000"};
        assertThat(TapProxyConfig.fromArgs(upstream, NO_ENV).requestMemoryBudget()).isEqualTo(32L << 20);
        assertThat(TapProxyConfig.fromArgs(upstream, Map.of("TOKENTAP_REQUEST_MEMORY_BUDGET", "64MiB"))
                .requestMemoryBudget()).isEqualTo(64L << 20);
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--max-request-bytes", "48MiB"}, NO_ENV))
                .hasMessageContaining("--request-memory-budget must be at least --max-request-bytes");
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--request-memory-budget", "plenty"}, NO_ENV))
                .hasMessageContaining("--request-memory-budget cannot be read from 'plenty'");
    }

    @Test
    void shouldRefuseATenantHeaderWithoutTrustedProxiesToBelieveItFrom() {
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--tenant-header", "X-Tenant-Id"}, NO_ENV))
                .hasMessageContaining("--tenant-header is believed only from --trusted-proxies");
        assertThat(TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--tenant-header", "X-Tenant-Id", "--trusted-proxies", "10.1.0.0/16"}, NO_ENV).tenantHeader())
                .isEqualTo("X-Tenant-Id");
    }

    @Test
    void shouldTrustNoProxyUnlessToldAndReportABadEntry() {
        String[] upstream = {"--upstream", "http://vllm:8000"};
        assertThat(TapProxyConfig.fromArgs(upstream, NO_ENV).trustedProxies().isEmpty()).isTrue();
        assertThat(TapProxyConfig.fromArgs(upstream, Map.of("TOKENTAP_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.2"))
                .trustedProxies().trusts("10.20.30.40")).isTrue();
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--trusted-proxies", "10.0.0.0/8,lb.internal"}, NO_ENV))
                .hasMessageContaining("--trusted-proxies has not an IP address or CIDR range: 'lb.internal'");
    }

    @Test
    void shouldCloseSilentClientsAfterFiveMinutesUnlessTold() {
        String[] upstream = {"--upstream", "http://vllm:8000"};
        assertThat(TapProxyConfig.fromArgs(upstream, NO_ENV).clientIdleTimeout()).isEqualTo(Duration.ofMinutes(5));
        assertThat(TapProxyConfig.fromArgs(upstream, Map.of("TOKENTAP_CLIENT_IDLE_TIMEOUT", "20s"))
                .clientIdleTimeout()).isEqualTo(Duration.ofSeconds(20));
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--client-idle-timeout", "0s"}, NO_ENV))
                .hasMessageContaining("--client-idle-timeout must be a positive duration");
    }

    @Test
    void shouldGiveClientsTenSecondsForTheirHeadersUnlessTold() {
        String[] upstream = {"--upstream", "http://vllm:8000"};
        assertThat(TapProxyConfig.fromArgs(upstream, NO_ENV).clientHeaderTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(TapProxyConfig.fromArgs(upstream, Map.of("TOKENTAP_CLIENT_HEADER_TIMEOUT", "3s"))
                .clientHeaderTimeout()).isEqualTo(Duration.ofSeconds(3));
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--client-header-timeout", "0s"}, NO_ENV))
                .hasMessageContaining("--client-header-timeout must be a positive duration");
    }

    @Test
    void shouldLimitHeadersTo8KiBUnlessToldWithinSaneBounds() {
        String[] upstream = {"--upstream", "http://vllm:8000"};
        assertThat(TapProxyConfig.fromArgs(upstream, NO_ENV).maxHeaderBytes()).isEqualTo(8192);
        assertThat(TapProxyConfig.fromArgs(upstream, Map.of("TOKENTAP_MAX_HEADER_BYTES", "16KiB"))
                .maxHeaderBytes()).isEqualTo(16384);
        assertThat(TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000", "--max-header-bytes",
                "4096"}, NO_ENV).maxHeaderBytes()).isEqualTo(4096);
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--max-header-bytes", "100", "--client-min-request-rate", "-1"}, NO_ENV))
                .hasMessageContaining("--max-header-bytes must be between 1024 and 1048576")
                .hasMessageContaining("--client-min-request-rate cannot be read from '-1'");
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--max-header-bytes", "4GiB"}, NO_ENV))
                .hasMessageContaining("--max-header-bytes must be between");
    }

    @Test
    void shouldSetNoMinimumBodyRateUnlessTold() {
        String[] upstream = {"--upstream", "http://vllm:8000"};
        assertThat(TapProxyConfig.fromArgs(upstream, NO_ENV).clientMinRequestRate()).isZero();
        assertThat(TapProxyConfig.fromArgs(upstream, Map.of("TOKENTAP_CLIENT_MIN_REQUEST_RATE", "2KiB"))
                .clientMinRequestRate()).isEqualTo(2048);
    }

    @Test
    void shouldSizeThreadsByCoresUnlessToldAndRefuseTooFew() {
        String[] upstream = {"--upstream", "http://vllm:8000"};
        assertThat(TapProxyConfig.fromArgs(upstream, NO_ENV).maxThreads())
                .isEqualTo(TapProxyConfig.defaultMaxThreads()).isGreaterThanOrEqualTo(16);
        assertThat(TapProxyConfig.fromArgs(upstream, Map.of("TOKENTAP_MAX_THREADS", "40")).maxThreads())
                .isEqualTo(40);
        assertThatThrownBy(() -> TapProxyConfig.fromArgs(new String[] {"--upstream", "http://vllm:8000",
                "--max-threads", "2"}, NO_ENV))
                .hasMessageContaining("--max-threads must be at least 8, got 2");
    }
}
