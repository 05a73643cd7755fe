package dev.tokentap.cli;

import dev.tokentap.bench.BenchCommand;
import dev.tokentap.config.Cli;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code tokentap} launcher: {@code run}, {@code demo}, {@code sim}, {@code bench} and {@code report}. */
@Command(name = "tokentap", description = "Exact per-client token metering for vLLM.",
        subcommands = {RunCommand.class, DemoCommand.class, SimCommand.class, BenchCommand.class,
                ReportCommand.class, CommandLine.HelpCommand.class})
public final class TokentapMain implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) throws Exception {
        // run and demo size their own JVM: a newcomer's java -jar gives them none
        Optional<List<String>> sized = SizedJvm.commandForThisJvm(args);
        if (sized.isPresent()) {
            System.exit(SizedJvm.run(sized.get()));
        }
        System.exit(Cli.execute(new TokentapMain(), args, System.getenv()));
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
