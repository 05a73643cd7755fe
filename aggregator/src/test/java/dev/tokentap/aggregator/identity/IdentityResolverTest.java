package dev.tokentap.aggregator.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokentap.aggregator.identity.IdentityResolver.Signal;
import dev.tokentap.aggregator.k8s.PodIdentity;
import dev.tokentap.event.ClientIdentity;
import dev.tokentap.event.UsageEvent;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class IdentityResolverTest {

    static final PodIdentity RANKER = new PodIdentity("search", "ranker-abc", "Deployment", "ranker", "sa",
            "node-1", null);
    static final Map<String, String> ALIASES = Map.of("key-1", "billing-batch");

    private final IdentityResolver defaults = new IdentityResolver(IdentityResolver.DEFAULT_PRECEDENCE, ALIASES);

    @Test
    void shouldPreferTheWorkloadThenTheAliasThenTheTenantThenTheAddress() {
        assertThat(name(defaults, event("t-1", "key-1"), RANKER)).isEqualTo("ranker from workload");
        assertThat(name(defaults, event("t-1", "key-1"), null)).isEqualTo("billing-batch from api_key");
        assertThat(name(defaults, event("t-1", "key-unknown"), null)).isEqualTo("t-1 from tenant");
        assertThat(name(defaults, event(null, "key-unknown"), null)).isEqualTo("10.0.0.7 from address");
    }

    @Test
    void shouldNotLetATenantHeaderRenameAPodsCallerByDefault() {
        // a pod sending someone else's tenant is still billed to its own workload
        assertThat(name(defaults, event("team-victim", null), RANKER)).isEqualTo("ranker from workload");
        // unless the operator puts the tenant first, for callers that all come through a trusted gateway
        IdentityResolver tenantFirst = new IdentityResolver(IdentityResolver.parsePrecedence("tenant,workload"),
                ALIASES);
        assertThat(name(tenantFirst, event("team-search", null), RANKER)).isEqualTo("team-search from tenant");
    }

    @Test
    void shouldFollowAConfiguredPrecedenceAndFallBackToTheAddress() {
        IdentityResolver aliasFirst = new IdentityResolver(List.of(Signal.API_KEY, Signal.WORKLOAD), ALIASES);

        assertThat(name(aliasFirst, event("t-1", "key-1"), RANKER)).isEqualTo("billing-batch from api_key");
        assertThat(name(aliasFirst, event("t-1", null), RANKER)).isEqualTo("ranker from workload");
        assertThat(name(aliasFirst, event("t-1", null), null)).isEqualTo("10.0.0.7 from address");
    }

    @Test
    void shouldCarryEverySignalNotOnlyTheWinner() {
        ClientIdentity client = defaults.resolve(event("t-1", "key-1"), RANKER);

        assertThat(client).isEqualTo(new ClientIdentity("search", "ranker-abc", "Deployment", "ranker", "sa",
                "node-1", null, "billing-batch", "ranker", ClientIdentity.SOURCE_WORKLOAD));
    }

    @Test
    void shouldPutACallerWithoutPodInTheUnknownNamespace() {
        assertThat(defaults.resolve(event(null, null), null).namespace()).isEqualTo(ClientIdentity.UNKNOWN);
        assertThat(defaults.resolve(UsageEvent.builder().eventId("e").route("/r").outcome("ok").build(), null)
                .clientName()).isEqualTo(ClientIdentity.UNKNOWN);
    }

    @Test
    void shouldParseThePrecedenceFlag() {
        assertThat(IdentityResolver.parsePrecedence("workload, api-key,address"))
                .containsExactly(Signal.WORKLOAD, Signal.API_KEY, Signal.ADDRESS);
        assertThatThrownBy(() -> IdentityResolver.parsePrecedence("workload,nickname"))
                .hasMessageContaining("nickname");
        assertThatThrownBy(() -> IdentityResolver.parsePrecedence("tenant,tenant")).hasMessageContaining("twice");
    }

    @Test
    void shouldReadAliasesAsLinesOrJson() {
        assertThat(IdentityResolver.parseAliases("# team keys\nkey-1 billing-batch\n\nkey-2=search\n", "f"))
                .containsExactly(Map.entry("key-1", "billing-batch"), Map.entry("key-2", "search"));
        assertThat(IdentityResolver.parseAliases("{\"key-1\": \"billing-batch\"}", "f"))
                .containsExactly(Map.entry("key-1", "billing-batch"));
        assertThatThrownBy(() -> IdentityResolver.parseAliases("lonely\n", "aliases.txt"))
                .hasMessageContaining("aliases.txt line 1");
    }

    private static String name(IdentityResolver resolver, UsageEvent event, PodIdentity pod) {
        ClientIdentity client = resolver.resolve(event, pod);
        return client.clientName() + " from " + client.clientNameSource();
    }

    private static UsageEvent event(String tenant, String apiKeyId) {
        return UsageEvent.builder().eventId("e-1").route("/v1/chat/completions").outcome("ok")
                .clientAddress("10.0.0.7").tenant(tenant).apiKeyId(apiKeyId).build();
    }
}
