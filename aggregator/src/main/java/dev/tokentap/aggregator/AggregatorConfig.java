package dev.tokentap.aggregator;

import dev.tokentap.aggregator.http.HttpApi;
import dev.tokentap.aggregator.identity.Identity;
import dev.tokentap.aggregator.k8s.Kubernetes;
import dev.tokentap.aggregator.topology.UsageTopology;
import dev.tokentap.config.Cli;
import dev.tokentap.config.KafkaClients;
import java.util.Map;

/**
 * Everything the aggregator is configured with, in records by concern, each validated where it is built and handed
 * to the part that uses it alone. Read from flags and environment by {@link #fromArgs} ({@link AggregatorOptions}).
 *
 * @param streams    the Kafka Streams application
 * @param limits     the topology's series caps and de-duplication retention
 * @param identity   how callers are named
 * @param kubernetes whether and how callers are resolved to pods
 * @param http       the HTTP port
 * @param billing    the price list, the hourly records' grace period and how long hourly sums are kept
 */
public record AggregatorConfig(Streams streams, UsageTopology.Limits limits, Identity identity, Kubernetes kubernetes,
                               HttpApi http, UsageTopology.Billing billing) {

    /**
     * Reads flags and environment: a flag wins over its variable, which wins over the default.
     *
     * @throws dev.tokentap.config.ConfigException naming every problem found
     * @throws Cli.HelpRequested                   for {@code --help} and {@code --version}
     */
    public static AggregatorConfig fromArgs(String[] args, Map<String, String> env) {
        return Cli.configure(new AggregatorOptions(), args, env);
    }

    /** Reads flags alone, as tests and embedders configure an aggregator. */
    public static AggregatorConfig fromArgs(String... args) {
        return fromArgs(args, Map.of());
    }

    /** The same configuration on other Kafka servers. */
    public AggregatorConfig withKafka(KafkaClients kafka) {
        return new AggregatorConfig(streams.withKafka(kafka), limits, identity, kubernetes, http, billing);
    }
}
