package dev.tokentap.config;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/**
 * Reads every tokentap command line the same way: picocli options of the commands and their mixins, each also read
 * from its environment variable ({@link Environment}), durations and sizes in one syntax, every bad value collected
 * (picocli's {@code collectErrors}) and reported in one message together with what the configuration records find
 * wrong, {@code --help} listing each option's variable and default, {@code --version} the project version.
 */
public final class Cli {

    /** Exit code of a configuration that cannot be used. */
    public static final int EXIT_CONFIGURATION = 2;
    /** Exit code of a command that could not start or failed. */
    public static final int EXIT_FAILED = 1;

    static final int USAGE_WIDTH = 120;
    private static final String[] FOOTER = {"",
        "Every option also reads the environment variable shown under it; the option wins when both are given.",
        "Durations need a unit: 500ms, 30s, 5m, 1h, 2d, or ISO-8601 such as PT30S (0 alone needs none).",
        "Sizes are bytes, or a number with KiB, MiB or GiB."};
    private static final String[] KAFKA_FOOTER = {
        "Any Kafka client property can be set as " + Environment.KAFKA_PREFIX + "<PROPERTY_WITH_UNDERSCORES>:",
        Environment.KAFKA_PREFIX + "SECURITY_PROTOCOL=SASL_SSL sets security.protocol."};

    private Cli() {
    }

    /** Thrown by {@link #configure} for {@code --help} and {@code --version}; the message is what to print. */
    public static final class HelpRequested extends RuntimeException {
        private static final long serialVersionUID = 1L;

        HelpRequested(String text) {
            super(text, null, false, false);
        }
    }

    /**
     * Reads {@code args} and {@code env} into {@code options} and returns the configuration they make.
     *
     * @throws ConfigException naming every problem: unknown options, unreadable values (from flags or
     *                         variables), and what the configuration's records refuse
     * @throws HelpRequested   for {@code --help} and {@code --version}
     */
    public static <C> C configure(Configurable<C> options, String[] args, Map<String, String> env) {
        CommandLine commandLine = commandLine(options, env);
        ParseResult parsed = commandLine.parseArgs(args);
        if (commandLine.isUsageHelpRequested()) {
            throw new HelpRequested(commandLine.getUsageMessage(Help.Ansi.OFF));
        }
        if (commandLine.isVersionHelpRequested()) {
            throw new HelpRequested(String.join(System.lineSeparator(), commandLine.getCommandSpec().version()));
        }
        return configured(commandLine, parsed, options);
    }

    /** {@code options} with the defaults its annotations give (no environment): for building records in code. */
    public static <T> T defaults(T options) {
        commandLine(options, Map.of()).parseArgs();
        return options;
    }

    /**
     * Runs {@code command} (with its subcommands) as a process's {@code main} would: prints help or the version, or
     * every configuration problem at once (exit {@value #EXIT_CONFIGURATION}), or runs the command chosen; a command
     * that fails prints one line naming why (exit {@value #EXIT_FAILED}).
     */
    public static int execute(Object command, String[] args, Map<String, String> env) {
        return execute(command, args, env, new PrintWriter(System.out, true), new PrintWriter(System.err, true));
    }

    /** As {@link #execute(Object, String[], Map)}, writing to {@code out} and {@code err}. */
    public static int execute(Object command, String[] args, Map<String, String> env, PrintWriter out,
                              PrintWriter err) {
        CommandLine commandLine = commandLine(command, env);
        commandLine.setOut(out);
        commandLine.setErr(err);
        commandLine.setExecutionStrategy(parsed -> {
            Integer help = CommandLine.executeHelpRequest(parsed);
            if (help != null) {
                return help;
            }
            ParseResult leaf = leaf(parsed);
            String name = leaf.commandSpec().qualifiedName();
            try {
                if (leaf.commandSpec().userObject() instanceof ConfiguredCommand<?> configured) {
                    return run(configured, commandLine, parsed);
                }
                List<String> problems = parseProblems(commandLine, parsed, new LinkedHashSet<>());
                if (!problems.isEmpty()) {
                    throw new ConfigException(problems);
                }
                return new CommandLine.RunLast().execute(parsed);
            } catch (ConfigException e) {
                err.println(name + ": " + e.getMessage() + " (see --help)");
                return EXIT_CONFIGURATION;
            } catch (CommandLine.ExecutionException e) {
                return failed(err, name, e.getCause() instanceof Exception cause ? cause : e);
            } catch (Exception e) {
                return failed(err, name, e);
            }
        });
        return commandLine.execute(args);
    }

    private static <C> int run(ConfiguredCommand<C> command, CommandLine commandLine, ParseResult parsed)
            throws Exception {
        return command.run(configured(commandLine, parsed, command));
    }

    private static int failed(PrintWriter err, String name, Exception e) {
        String message = e.getMessage() == null || e.getMessage().isBlank() ? e.toString() : e.getMessage();
        err.println(name + ": " + message);
        if (!(e instanceof IllegalStateException || e instanceof IllegalArgumentException
                || e instanceof UncheckedIOException || e instanceof IOException)) {
            // not one of the failures a command reports on purpose: the trace is what finds the bug
            e.printStackTrace(err);
        }
        return EXIT_FAILED;
    }

    /**
     * The configuration {@code options} make once {@code root} has parsed, or every problem: those of parsing first,
     * then those of the records, leaving out a record's complaint about a value already reported as unreadable.
     */
    private static <C> C configured(CommandLine commandLine, ParseResult parsed, Configurable<C> options) {
        if (!errors(parsed).isEmpty()) {
            // after an argument it cannot convert, picocli applies no defaults at all; parsing again without the
            // bad arguments gives every other option its value, so that the records report only real problems
            commandLine.parseArgs(withoutBadArguments(parsed));
        }
        Set<String> unreadable = new LinkedHashSet<>();
        List<String> problems = parseProblems(commandLine, parsed, unreadable);
        Environment environment = (Environment) commandLine.getDefaultValueProvider();
        tellEnvironment(leaf(parsed).commandSpec(), environment.env());
        C config = null;
        try {
            config = options.configure();
        } catch (ConfigException e) {
            for (String problem : e.problems()) {
                if (unreadable.stream().noneMatch(o -> problem.startsWith(o + " ") || problem.startsWith(o + ":"))) {
                    problems.add(problem);
                }
            }
        } catch (IllegalArgumentException e) {
            // a part that refuses its values without naming them as problems still refuses them
            problems.add(e.getMessage());
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return config;
    }

    /** The problems parsing found, on every level of the command line; the options they are about go in {@code options}. */
    private static List<String> parseProblems(CommandLine commandLine, ParseResult parsed, Set<String> options) {
        Set<String> problems = new LinkedHashSet<>();
        for (ParseResult level = parsed; level != null; level = level.hasSubcommand() ? level.subcommand() : null) {
            for (Exception error : level.errors()) {
                problems.add(describe(error, options));
            }
        }
        Environment environment = (Environment) commandLine.getDefaultValueProvider();
        environment.problems().forEach((option, problem) -> {
            options.add(option);
            problems.add(problem);
        });
        return new ArrayList<>(problems);
    }

    private static ParseResult leaf(ParseResult parsed) {
        ParseResult leaf = parsed;
        while (leaf.hasSubcommand()) {
            leaf = leaf.subcommand();
        }
        return leaf;
    }

    private static List<Exception> errors(ParseResult parsed) {
        List<Exception> errors = new ArrayList<>();
        for (ParseResult level = parsed; level != null; level = level.hasSubcommand() ? level.subcommand() : null) {
            errors.addAll(level.errors());
        }
        return errors;
    }

    /** The original arguments less the options (with their values) and the words that could not be read. */
    private static String[] withoutBadArguments(ParseResult parsed) {
        Set<String> badOptions = new LinkedHashSet<>();
        Set<String> badWords = new LinkedHashSet<>();
        for (Exception error : errors(parsed)) {
            if (error instanceof CommandLine.UnmatchedArgumentException unmatched) {
                badWords.addAll(unmatched.getUnmatched());
            } else if (error instanceof CommandLine.MissingParameterException missing) {
                missing.getMissing().stream().filter(OptionSpec.class::isInstance)
                        .forEach(arg -> badOptions.addAll(List.of(((OptionSpec) arg).names())));
            } else if (error instanceof ParameterException p && p.getArgSpec() instanceof OptionSpec option) {
                badOptions.addAll(List.of(option.names()));
            }
        }
        List<String> args = parsed.originalArgs();
        List<String> kept = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            int equals = arg.indexOf('=');
            String name = equals > 0 ? arg.substring(0, equals) : arg;
            if (badWords.contains(arg)) {
                continue;
            }
            if (badOptions.contains(name)) {
                if (equals < 0 && i + 1 < args.size() && !args.get(i + 1).startsWith("-")) {
                    i++;
                }
                continue;
            }
            kept.add(arg);
        }
        return kept.toArray(String[]::new);
    }

    private static String describe(Exception error, Set<String> options) {
        String message = error.getMessage();
        if (error instanceof ParameterException p && p.getArgSpec() instanceof OptionSpec option) {
            options.add(option.longestName());
            String prefix = "Invalid value for option '" + option.longestName() + "': ";
            if (message != null && message.startsWith(prefix)) {
                return option.longestName() + ": " + message.substring(prefix.length());
            }
        }
        return message;
    }

    private static void tellEnvironment(CommandSpec spec, Map<String, String> env) {
        if (spec.userObject() instanceof EnvironmentAware aware) {
            aware.environment(env);
        }
        for (CommandSpec mixin : spec.mixins().values()) {
            tellEnvironment(mixin, env);
        }
    }

    /** The command line of {@code command}, set up as every tokentap command is, reading {@code env}. */
    public static CommandLine commandLine(Object command, Map<String, String> env) {
        CommandLine commandLine = new CommandLine(command);
        commandLine.setDefaultValueProvider(new Environment(env, Cli::conversionProblem));
        setUp(commandLine);
        return commandLine;
    }

    private static void setUp(CommandLine commandLine) {
        registerConverters(commandLine);
        commandLine.setCaseInsensitiveEnumValuesAllowed(true);
        CommandSpec spec = commandLine.getCommandSpec();
        spec.parser().collectErrors(true);
        // the last of an option given twice wins, as in most Unix tools
        spec.parser().overwrittenOptionsAllowed(true);
        spec.mixinStandardHelpOptions(true);
        spec.versionProvider(() -> new String[] {spec.qualifiedName() + " " + Version.VERSION});
        spec.usageMessage().width(USAGE_WIDTH).sortOptions(false).abbreviateSynopsis(true);
        boolean kafka = false;
        boolean options = false;
        for (OptionSpec option : spec.options()) {
            if (!Environment.reads(option)) {
                continue;
            }
            options = true;
            String variable = Environment.variable(option.longestName());
            if (variable.startsWith(Environment.KAFKA_PREFIX)) {
                throw new IllegalStateException(option.longestName() + " would read " + variable
                        + ", a Kafka client property: name the option otherwise");
            }
            kafka |= "--kafka".equals(option.longestName());
        }
        if (options) {
            List<String> footer = new ArrayList<>(List.of(spec.usageMessage().footer()));
            footer.addAll(List.of(FOOTER));
            if (kafka) {
                footer.addAll(List.of(KAFKA_FOOTER));
            }
            spec.usageMessage().footer(footer.toArray(String[]::new));
        }
        commandLine.getHelpSectionMap().put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_OPTION_LIST,
                OptionHelp::optionList);
        for (CommandLine sub : commandLine.getSubcommands().values()) {
            setUp(sub);
        }
    }

    private static void registerConverters(CommandLine commandLine) {
        commandLine.registerConverter(Duration.class, new Durations());
        commandLine.registerConverter(Secret.class, new Secret.Plain());
        commandLine.registerConverter(Boolean.class, new Booleans());
        commandLine.registerConverter(Boolean.TYPE, new Booleans());
    }

    /**
     * What is wrong with {@code value} for {@code option}, as picocli would convert it, or null. A lone option of
     * the same type, converters and arity is parsed, so every type converts exactly as it does on the command line.
     */
    static String conversionProblem(OptionSpec option, String value) {
        if (option.arity().max() == 0) {
            try {
                Booleans.parse(value);
                return null;
            } catch (IllegalArgumentException e) {
                return e.getMessage();
            }
        }
        CommandSpec probe = CommandSpec.create();
        probe.addOption(OptionSpec.builder("--value")
                .type(option.type())
                .auxiliaryTypes(option.auxiliaryTypes())
                .converters(option.converters())
                .arity(option.arity().originalValue())
                .splitRegex(option.splitRegex())
                .build());
        CommandLine commandLine = new CommandLine(probe);
        registerConverters(commandLine);
        commandLine.setCaseInsensitiveEnumValuesAllowed(true);
        try {
            commandLine.parseArgs("--value=" + value);
            return null;
        } catch (ParameterException e) {
            String prefix = "Invalid value for option '--value': ";
            String message = e.getMessage();
            return message != null && message.startsWith(prefix) ? message.substring(prefix.length()) : message;
        }
    }
}
