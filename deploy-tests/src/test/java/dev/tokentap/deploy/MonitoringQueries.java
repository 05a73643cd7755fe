package dev.tokentap.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The PromQL that deploy/ ships: the Grafana dashboard's queries and the PrometheusRule's expressions. */
final class MonitoringQueries {

    /** Metric names of tokentap's own families and of the Kafka Exporter; PromQL functions never start so. */
    private static final Pattern METRIC = Pattern.compile("\\b(?:vllm|tokentap|kafka)_[a-zA-Z0-9_]+");

    /** A metric name with a label matcher list: {@code name{a="x", b=~"y"}}. */
    private static final Pattern SELECTOR = Pattern.compile("\\b(?:vllm|tokentap|kafka)_[a-zA-Z0-9_]+\\{([^}]*)}");
    private static final Pattern MATCHER = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)\\s*(?:=~|!~|!=|=)");
    private static final Pattern GROUPING = Pattern.compile("\\b(?:by|without)\\s*\\(([^)]*)\\)");
    private static final Pattern LABEL_VALUES = Pattern.compile("label_values\\(.*,\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*\\)");

    private MonitoringQueries() {
    }

    /** The label names a query matches on, groups by or lists the values of. */
    static Set<String> labelNames(String query) {
        Set<String> labels = new TreeSet<>();
        Matcher selector = SELECTOR.matcher(query);
        while (selector.find()) {
            Matcher matcher = MATCHER.matcher(selector.group(1));
            while (matcher.find()) {
                labels.add(matcher.group(1));
            }
        }
        Matcher grouping = GROUPING.matcher(query);
        while (grouping.find()) {
            for (String label : grouping.group(1).split(",")) {
                if (!label.isBlank()) {
                    labels.add(label.strip());
                }
            }
        }
        Matcher values = LABEL_VALUES.matcher(query);
        if (values.find()) {
            labels.add(values.group(1));
        }
        return labels;
    }

    static Path dashboardFile() {
        return Manifests.deployDir().resolve("base/monitoring/dashboards/tokentap.json");
    }

    static Path ruleFile() {
        return Manifests.deployDir().resolve("base/monitoring/prometheusrule.yaml");
    }

    /** Every query of the dashboard: panel targets and template variables. */
    static List<String> dashboardQueries(JsonNode dashboard) {
        List<String> queries = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            for (JsonNode target : panel.path("targets")) {
                queries.add(target.path("expr").asText());
            }
        }
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            if ("query".equals(variable.path("type").asText())) {
                queries.add(variable.path("query").path("query").asText());
            }
        }
        return queries;
    }

    static JsonNode dashboard() {
        try {
            return Manifests.JSON.readTree(dashboardFile().toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonNode prometheusRule() {
        return Manifests.read(ruleFile()).get(0);
    }

    static List<String> ruleExpressions(JsonNode prometheusRule) {
        List<String> expressions = new ArrayList<>();
        for (JsonNode group : prometheusRule.path("spec").path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                expressions.add(rule.path("expr").asText());
            }
        }
        return expressions;
    }

    /** The names the rules record (vllm-token-stats' names), which queries may use without a scrape serving them. */
    static Set<String> recordedNames(JsonNode prometheusRule) {
        Set<String> names = new TreeSet<>();
        for (JsonNode group : prometheusRule.path("spec").path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                if (rule.has("record")) {
                    names.add(rule.path("record").asText());
                }
            }
        }
        return names;
    }

    static Set<String> metricNames(List<String> queries) {
        Set<String> names = new TreeSet<>();
        for (String query : queries) {
            Matcher m = METRIC.matcher(query);
            while (m.find()) {
                names.add(m.group());
            }
        }
        return names;
    }
}
