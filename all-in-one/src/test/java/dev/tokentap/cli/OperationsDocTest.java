package dev.tokentap.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokentap.aggregator.AggregatorOptions;
import dev.tokentap.config.Cli;
import dev.tokentap.config.Environment;
import dev.tokentap.proxy.TapProxyOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.Help.Ansi;
import picocli.CommandLine.Model.OptionSpec;

/**
 * docs/operations.md's flag tables against the commands themselves: every option has its row, every row an option,
 * and each row the variables and default that {@code --help} shows. A failure prints the rows the commands give.
 */
class OperationsDocTest {

    private static final Path DOC = Path.of("..", "docs", "operations.md");
    private static final Pattern FLAG = Pattern.compile("`(--[a-z0-9-]+)`");

    /** A row of a table: the flag, the variables it names, the default cell. */
    private record Row(String flag, List<String> variables, String defaultCell) {
    }

    @Test
    void shouldListEveryOptionOfTapProxy() throws IOException {
        check("## tap-proxy", new TapProxyOptions(), option -> true);
    }

    @Test
    void shouldListEveryOptionOfTheAggregator() throws IOException {
        check("## aggregator", new AggregatorOptions(), option -> true);
    }

    @Test
    void shouldListTheOptionsOfRunThatTheProcessesDoNotHaveAndNameThoseItLeavesOut() throws IOException {
        Set<String> processes = new TreeSet<>(names(new TapProxyOptions()));
        processes.addAll(names(new AggregatorOptions()));
        Set<String> run = names(new RunCommand());

        check("### `run`", new RunCommand(), option -> !processes.contains(option.longestName()));
        assertThat(excepted("### `run`", "`run` takes every option"))
                .as("the options of the processes that run leaves out")
                .containsExactlyInAnyOrderElementsOf(processes.stream().filter(o -> !run.contains(o)).toList());
    }

    @Test
    void shouldListTheOptionsOfDemoThatRunDoesNotHaveAlikeAndNameThoseItLeavesOut() throws IOException {
        Map<String, OptionSpec> run = specs(new RunCommand());
        Set<String> demo = names(new DemoCommand());

        check("### `demo`", new DemoCommand(), option -> !run.containsKey(option.longestName())
                || !String.valueOf(run.get(option.longestName()).defaultValue()).equals(
                        String.valueOf(option.defaultValue())));
        assertThat(excepted("### `demo`", "`demo` takes every option of `run`"))
                .as("the options of run that demo leaves out")
                .containsExactlyInAnyOrderElementsOf(run.keySet().stream().filter(o -> !demo.contains(o)).toList());
    }

    @Test
    void shouldListEveryOptionOfSim() throws IOException {
        check("### `sim`", new SimCommand(), option -> true);
    }

    @Test
    void shouldListEveryOptionOfReport() throws IOException {
        check("### `report`", new ReportCommand(), option -> true);
    }

    /** Checks the table under {@code heading} against the options of {@code command} that {@code documented} picks. */
    private static void check(String heading, Object command, Predicate<OptionSpec> documented) throws IOException {
        Map<String, Row> rows = table(heading);
        List<OptionSpec> options = specs(command).values().stream().filter(documented).toList();
        String help = Cli.commandLine(command, Map.of()).getUsageMessage(Ansi.OFF);
        String expected = options.stream().map(OperationsDocTest::row).collect(Collectors.joining("\n"));

        assertThat(rows.keySet()).as("the flags under %s; the commands give these rows:%n%s", heading, expected)
                .containsExactlyInAnyOrderElementsOf(options.stream().map(OptionSpec::longestName).toList());
        for (OptionSpec option : options) {
            Row row = rows.get(option.longestName());
            assertThat(row.variables()).as("variables of %s under %s", option.longestName(), heading)
                    .containsExactlyElementsOf(Environment.variables(option));
            if (option.defaultValue() != null) {
                assertThat(row.defaultCell()).as("default of %s under %s", option.longestName(), heading)
                        .startsWith("`" + option.defaultValue() + "`");
            }
            assertThat(help).as("--help of %s", heading).contains(environmentLine(option));
        }
    }

    /** The line under an option in {@code --help}. */
    private static String environmentLine(OptionSpec option) {
        String line = "env " + String.join(" or ", Environment.variables(option));
        return option.defaultValue() == null ? line : line + "; default " + option.defaultValue();
    }

    /** The row a table should have for {@code option}, to paste into the document. */
    private static String row(OptionSpec option) {
        return "| `" + option.longestName() + "` | " + Environment.variables(option).stream()
                .map(v -> "`" + v + "`").collect(Collectors.joining(", ")) + " | "
                + (option.defaultValue() == null ? "none" : "`" + option.defaultValue() + "`") + " | "
                + String.join(" ", option.description()) + " |";
    }

    private static Map<String, OptionSpec> specs(Object command) {
        Map<String, OptionSpec> options = new LinkedHashMap<>();
        for (OptionSpec option : Cli.commandLine(command, Map.of()).getCommandSpec().options()) {
            if (!option.usageHelp() && !option.versionHelp()) {
                options.put(option.longestName(), option);
            }
        }
        return options;
    }

    private static Set<String> names(Object command) {
        return new TreeSet<>(specs(command).keySet());
    }

    /** The first table after {@code heading}, by flag. */
    private static Map<String, Row> table(String heading) throws IOException {
        List<String> lines = Files.readAllLines(DOC);
        int at = lines.indexOf(heading);
        assertThat(at).as("heading %s in %s", heading, DOC).isNotNegative();
        while (!lines.get(at).startsWith("| flag")) {
            at++;
        }
        Map<String, Row> rows = new LinkedHashMap<>();
        for (int i = at + 2; i < lines.size() && lines.get(i).startsWith("|"); i++) {
            String[] cells = lines.get(i).substring(1).split(" \\| ", 4);
            List<String> variables = new ArrayList<>();
            Matcher variable = Pattern.compile("`([A-Z0-9_]+)`").matcher(cells[1]);
            while (variable.find()) {
                variables.add(variable.group(1));
            }
            rows.put(cells[0].strip().replace("`", ""), new Row(cells[0], variables, cells[2].strip()));
        }
        return rows;
    }

    /** The flags named between "except" and the next colon in the paragraph under {@code heading} that starts so. */
    private static List<String> excepted(String heading, String start) throws IOException {
        List<String> lines = Files.readAllLines(DOC);
        int at = lines.indexOf(heading);
        while (!lines.get(at).startsWith(start)) {
            at++;
        }
        StringBuilder paragraph = new StringBuilder();
        for (int i = at; i < lines.size() && !lines.get(i).isBlank(); i++) {
            paragraph.append(lines.get(i)).append(' ');
        }
        String text = paragraph.substring(paragraph.indexOf(" except "));
        Matcher flag = FLAG.matcher(text.substring(0, text.indexOf(':')));
        List<String> flags = new ArrayList<>();
        while (flag.find()) {
            flags.add(flag.group(1));
        }
        return flags;
    }
}
