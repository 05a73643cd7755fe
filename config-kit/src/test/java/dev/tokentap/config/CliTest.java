package dev.tokentap.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

class CliTest {

    /** A configuration record validated where it is built, as the processes' records are. */
    record Server(String listen, int port, Duration drainTimeout, long maxBytes, boolean verbose, Secret token,
                  KafkaClients kafka, String topic) {
        Server {
            new Problems().port("--port", port).notNegative("--drain-timeout", drainTimeout)
                    .atLeast("--max-bytes", maxBytes, 1024).throwIfAny();
        }
    }

    static final class Limits {
        @Option(names = "--drain-timeout", defaultValue = "30s", description = "how long requests may finish")
        Duration drainTimeout;

        @Option(names = "--max-bytes", defaultValue = "1MiB", converter = Sizes.class, description = "largest body")
        long maxBytes;
    }

    @Command(name = "server", description = "A server.")
    static final class ServerOptions implements Configurable<Server> {
        @Mixin ListenOption listen;
        @Option(names = "--port", defaultValue = "3000", description = "port") int port;
        @Mixin Limits limits;
        @Option(names = "--verbose", arity = "1", defaultValue = "false", description = "say more") boolean verbose;
        @Option(names = "--token-file", converter = Secret.FromFile.class, description = "the token") Secret token;
        @Mixin KafkaOptions kafka;

        @Override
        public Server configure() {
            return new Server(listen.address(), port, limits.drainTimeout, limits.maxBytes, verbose, token,
                    kafka.clients(), kafka.topic());
        }
    }

    private static Server configure(Map<String, String> env, String... args) {
        return Cli.configure(new ServerOptions(), args, env);
    }

    @Test
    void shouldTakeTheDefaultsDeclaredOnTheOptions() {
        Server server = configure(Map.of());

        assertThat(server.listen()).isEqualTo("0.0.0.0");
        assertThat(server.port()).isEqualTo(3000);
        assertThat(server.drainTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(server.maxBytes()).isEqualTo(1L << 20);
        assertThat(server.kafka().bootstrap()).isEqualTo("localhost:9092");
        assertThat(server.topic()).isEqualTo("tokentap.usage.v1");
    }

    @Test
    void shouldReadEachOptionFromTheVariableItsNameGivesAndLetTheFlagWin() {
        Map<String, String> env = Map.of("TOKENTAP_PORT", "4000", "TOKENTAP_DRAIN_TIMEOUT", "90s",
                "TOKENTAP_MAX_BYTES", "4KiB", "TOKENTAP_LISTEN", "127.0.0.1", "TOKENTAP_VERBOSE", "yes");

        Server fromEnv = configure(env);
        Server flagged = configure(env, "--port", "5000", "--drain-timeout=0");

        assertThat(fromEnv.port()).isEqualTo(4000);
        assertThat(fromEnv.drainTimeout()).isEqualTo(Duration.ofSeconds(90));
        assertThat(fromEnv.maxBytes()).isEqualTo(4096);
        assertThat(fromEnv.listen()).isEqualTo("127.0.0.1");
        assertThat(fromEnv.verbose()).isTrue();
        assertThat(flagged.port()).isEqualTo(5000);
        assertThat(flagged.drainTimeout()).isZero();
    }

    @Test
    void shouldReadAnAliasOnlyWhenTheDerivedVariableIsUnsetOrBlank() {
        assertThat(configure(Map.of("KAFKA_BOOTSTRAP_SERVERS", "alias:9092")).kafka().bootstrap())
                .isEqualTo("alias:9092");
        assertThat(configure(Map.of("KAFKA_BOOTSTRAP_SERVERS", "alias:9092", "TOKENTAP_KAFKA", "rule:9092"))
                .kafka().bootstrap()).isEqualTo("rule:9092");
        assertThat(configure(Map.of("KAFKA_BOOTSTRAP_SERVERS", "alias:9092", "TOKENTAP_KAFKA", " "))
                .kafka().bootstrap()).isEqualTo("alias:9092");
    }

    @Test
    void shouldReadKafkaClientPropertiesFromTheirPrefixOnly() {
        Server server = configure(Map.of(
                "TOKENTAP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL",
                "TOKENTAP_KAFKA_SASL_JAAS_CONFIG", "x required password=hunter2;",
                "TOKENTAP_KAFKA", "k:9092",
                "TOKENTAP_KAFKA_", "no name",
                "KAFKA_SOMETHING", "not ours"));

        assertThat(server.kafka().properties()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "security.protocol", "SASL_SSL", "sasl.jaas.config", "x required password=hunter2;"));
        assertThat(server.kafka().secured()).isTrue();
        assertThat(server.kafka().toString()).doesNotContain("hunter2");
    }

    @Test
    void shouldReportEveryBadValueAtOnceWhereverItCameFrom() {
        assertThatThrownBy(() -> configure(Map.of("TOKENTAP_MAX_BYTES", "lots", "TOKENTAP_VERBOSE", "maybe"),
                "--port", "70000", "--drain-timeout", "30", "--nope"))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("invalid configuration: ")
                .hasMessageContaining("--drain-timeout: '30' has no unit: write it as 30ms, 30s or 30m")
                .hasMessageContaining("Unknown option: '--nope'")
                .hasMessageContaining("--max-bytes (from TOKENTAP_MAX_BYTES): 'lots' is not a size")
                .hasMessageContaining("--verbose (from TOKENTAP_VERBOSE): 'maybe' is not true or false")
                .hasMessageContaining("--port must be between 0 and 65535, got 70000");
    }

    @Test
    void shouldReportAnUnreadableValueOnceNotAgainAsInvalid() {
        ConfigException e = catchThrowableOfType(ConfigException.class,
                () -> configure(Map.of("TOKENTAP_PORT", "http"), "--max-bytes", "lots"));

        assertThat(e.problems()).containsExactly(
                "--max-bytes: 'lots' is not a size: write bytes, or a number with KiB, MiB or GiB (32MiB)",
                "--port (from TOKENTAP_PORT): 'http' is not an int");
    }

    @Test
    void shouldStillReadEveryOtherVariableAfterABadOne() {
        // picocli stops applying defaults at the first that fails to convert; the environment is checked first
        ConfigException e = catchThrowableOfType(ConfigException.class, () -> configure(
                Map.of("TOKENTAP_LISTEN", "127.0.0.9", "TOKENTAP_PORT", "x", "TOKENTAP_MAX_BYTES", "10")));

        assertThat(e.problems()).containsExactlyInAnyOrder("--port (from TOKENTAP_PORT): 'x' is not an int",
                "--max-bytes must be at least 1024, got 10");
    }

    @Test
    void shouldReadASecretFromAFileAndNeverShowIt(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("token"), "s3cret\n");
        Path empty = Files.writeString(dir.resolve("empty"), "\n");

        Server server = configure(Map.of("TOKENTAP_TOKEN_FILE", file.toString()));

        assertThat(server.token().value()).isEqualTo("s3cret");
        assertThat(server.toString()).doesNotContain("s3cret");
        assertThatThrownBy(() -> configure(Map.of(), "--token-file", dir.resolve("missing").toString()))
                .hasMessageContaining("--token-file: cannot read the file " + dir.resolve("missing"));
        assertThatThrownBy(() -> configure(Map.of(), "--token-file", empty.toString()))
                .hasMessageContaining("--token-file: the file " + empty + " is empty");
    }

    @Test
    void shouldListEveryOptionWithItsVariablesAndDefaultInTheHelp() {
        Cli.HelpRequested help = catchThrowableOfType(Cli.HelpRequested.class,
                () -> configure(Map.of("TOKENTAP_PORT", "4000"), "--help"));

        assertThat(help.getMessage())
                .contains("--port=<port>", "env TOKENTAP_PORT; default 3000")
                .contains("env TOKENTAP_DRAIN_TIMEOUT; default 30s")
                .contains("env TOKENTAP_KAFKA or KAFKA_BOOTSTRAP_SERVERS")
                .contains("env TOKENTAP_TOKEN_FILE")
                .contains("TOKENTAP_KAFKA_<PROPERTY_WITH_UNDERSCORES>")
                .contains("Durations need a unit")
                .doesNotContain("4000");
    }

    @Test
    void shouldPrintTheProjectVersion() {
        Cli.HelpRequested version = catchThrowableOfType(Cli.HelpRequested.class,
                () -> configure(Map.of(), "--version"));

        assertThat(version.getMessage()).isEqualTo("server " + Version.VERSION);
        assertThat(Version.VERSION).matches("\\d+\\.\\d+\\.\\d+.*");
    }

    @Command(name = "broken")
    static final class KafkaNamedOption {
        @Option(names = "--kafka-timeout") String timeout;
    }

    @Test
    void shouldRefuseAnOptionWhoseVariableWouldBeAKafkaProperty() {
        assertThatThrownBy(() -> Cli.commandLine(new KafkaNamedOption(), Map.of()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("--kafka-timeout would read TOKENTAP_KAFKA_TIMEOUT");
    }

    @Command(name = "server")
    static final class ServerCommand implements ConfiguredCommand<Server> {
        @Mixin ServerOptions options;
        Server ran;

        @Override
        public Server configure() {
            return options.configure();
        }

        @Override
        public int run(Server config) {
            ran = config;
            if (config.port() == 1) {
                throw new IllegalStateException("cannot listen on 0.0.0.0:1 (--port): Permission denied");
            }
            return 0;
        }
    }

    @Test
    void shouldRunACommandOnlyWithAValidConfigurationAndSayInOneLineWhyNot() {
        StringWriter err = new StringWriter();
        ServerCommand bad = new ServerCommand();
        ServerCommand failing = new ServerCommand();
        ServerCommand good = new ServerCommand();

        int badExit = Cli.execute(bad, new String[] {"--port", "-1", "--drain-timeout", "5"}, Map.of(),
                new PrintWriter(new StringWriter()), new PrintWriter(err, true));
        int failingExit = Cli.execute(failing, new String[] {"--port", "1"}, Map.of(),
                new PrintWriter(new StringWriter()), new PrintWriter(err, true));
        int goodExit = Cli.execute(good, new String[] {"--port", "0"}, Map.of(),
                new PrintWriter(new StringWriter()), new PrintWriter(err, true));

        assertThat(badExit).isEqualTo(Cli.EXIT_CONFIGURATION);
        assertThat(bad.ran).isNull();
        assertThat(failingExit).isEqualTo(Cli.EXIT_FAILED);
        assertThat(goodExit).isZero();
        assertThat(good.ran.port()).isZero();
        assertThat(err.toString().lines()).containsExactly(
                "server: invalid configuration: --drain-timeout: '5' has no unit: write it as 5ms, 5s or 5m; "
                        + "--port must be between 0 and 65535, got -1 (see --help)",
                "server: cannot listen on 0.0.0.0:1 (--port): Permission denied");
    }

    @Command(name = "root", subcommands = ServerCommand.class)
    static final class Root implements Runnable {
        @Override
        public void run() {
        }
    }

    @Test
    void shouldReportEveryProblemOfASubcommandAtOnce() {
        StringWriter err = new StringWriter();

        int exit = Cli.execute(new Root(), new String[] {"server", "--drain-timeout", "5", "--max-bytes", "10"},
                Map.of("TOKENTAP_PORT", "x"), new PrintWriter(new StringWriter()), new PrintWriter(err, true));

        assertThat(exit).isEqualTo(Cli.EXIT_CONFIGURATION);
        assertThat(err.toString()).isEqualTo("root server: invalid configuration: --drain-timeout: '5' has no unit: "
                + "write it as 5ms, 5s or 5m; --port (from TOKENTAP_PORT): 'x' is not an int; "
                + "--max-bytes must be at least 1024, got 10 (see --help)" + System.lineSeparator());
    }

    @Test
    void shouldPrintTheVersionOfASubcommand() {
        StringWriter out = new StringWriter();

        int exit = Cli.execute(new Root(), new String[] {"server", "--version"}, Map.of(), new PrintWriter(out, true),
                new PrintWriter(new StringWriter()));

        assertThat(exit).isZero();
        assertThat(out.toString().strip()).isEqualTo("root server " + Version.VERSION);
    }
}
