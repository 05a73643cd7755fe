package dev.tokentap.aggregator.identity;

import dev.tokentap.config.Problems;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * How callers are named.
 *
 * @param precedence        signals a client is named by, first present wins
 * @param apiKeyAliasesFile where the aliases were read from; null for none
 * @param apiKeyAliases     {@code api_key_id} → name
 */
public record Identity(List<IdentityResolver.Signal> precedence, Path apiKeyAliasesFile,
                       Map<String, String> apiKeyAliases) {

    public Identity {
        precedence = precedence == null ? IdentityResolver.DEFAULT_PRECEDENCE : List.copyOf(precedence);
        apiKeyAliases = apiKeyAliases == null ? Map.of() : Map.copyOf(apiKeyAliases);
        new Problems().check(!precedence.isEmpty(), "--identity-precedence must name at least one signal")
                .throwIfAny();
    }

    /** The resolver these settings make. */
    public IdentityResolver resolver() {
        return new IdentityResolver(precedence, apiKeyAliases);
    }
}
