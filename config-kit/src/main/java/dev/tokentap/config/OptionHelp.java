package dev.tokentap.config;

import java.util.List;
import picocli.CommandLine.Help;
import picocli.CommandLine.Help.Ansi.Text;
import picocli.CommandLine.Help.IOptionRenderer;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The option list of {@code --help}: picocli's, with a line under each option naming the environment variables it
 * reads and its default, both taken from the option itself so that they cannot drift from what is read.
 */
final class OptionHelp {

    private OptionHelp() {
    }

    static String optionList(Help help) {
        Help.Layout standard = help.createDefaultLayout();
        IOptionRenderer options = help.createDefaultOptionRenderer();
        Help.Layout layout = new Help.Layout(standard.colorScheme(), standard.textTable(),
                (option, labels, scheme) -> withEnvironment(options.render(option, labels, scheme), option, scheme),
                help.createDefaultParameterRenderer());
        return help.optionList(layout, null, help.parameterLabelRenderer());
    }

    private static Text[][] withEnvironment(Text[][] rows, OptionSpec option, Help.ColorScheme scheme) {
        if (!Environment.reads(option) || rows.length == 0) {
            return rows;
        }
        Text[][] more = new Text[rows.length + 1][];
        System.arraycopy(rows, 0, more, 0, rows.length);
        Text[] line = new Text[rows[0].length];
        for (int i = 0; i < line.length; i++) {
            line[i] = scheme.text("");
        }
        line[line.length - 1] = scheme.text("  " + environmentLine(option));
        more[rows.length] = line;
        return more;
    }

    /** {@code env TOKENTAP_PORT; default 3000}, as {@code --help} shows it. */
    static String environmentLine(OptionSpec option) {
        List<String> variables = Environment.variables(option);
        String line = "env " + String.join(" or ", variables);
        String defaultValue = option.defaultValue();
        return defaultValue == null || defaultValue.isEmpty() ? line : line + "; default " + defaultValue;
    }
}
