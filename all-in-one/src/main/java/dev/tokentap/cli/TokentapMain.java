package dev.tokentap.cli;

import dev.tokentap.bench.BenchCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code tokentap} launcher: {@code run}, {@code demo}, {@code sim}, {@code bench} and {@code report}. */
@Command(name = "tokentap", mixinStandardHelpOptions = true, version = "tokentap 0.1.0",
        description = "Exact per-client token metering for vLLM.",
        subcommands = {RunCommand.class, DemoCommand.class, SimCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class TokentapMain implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(commandLine(System.getenv()).execute(args));
    }

    /** The launcher's command line, with every flag also read from {@code env}. */
    public static CommandLine commandLine(java.util.Map<String, String> env) {
        return new CommandLine(new TokentapMain())
                .addSubcommand(new ReportCommand(env))
                .setDefaultValueProvider(new EnvDefaults(env))
                // one line naming what went wrong instead of a stack trace, for start-up failures
                .setExecutionExceptionHandler((e, cmd, parsed) -> {
                    cmd.getErr().println("tokentap: " + e.getMessage());
                    return 2;
                });
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
