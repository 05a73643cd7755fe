package dev.tokentap.proxy.http;

import dev.tokentap.config.Problems;
import dev.tokentap.config.Secret;
import dev.tokentap.proxy.usage.VllmGeneration;
import java.util.regex.Pattern;

/**
 * What the proxy records about each request besides its usage.
 *
 * @param proxyHost        this proxy's name, for {@code proxy_host}, {@code ce_source} and {@code Via}
 * @param tenantHeader     request header holding the tenant, or null; believed only from {@code trustedProxies}
 * @param apiKeyHashSecret secret of the {@code api_key_id} hash; null for a random one per process
 * @param continuousUsage  whether a stream the proxy asks usage for also asks for {@code continuous_usage_stats}, so
 *                         that a stream that ends early still has its usage so far
 * @param trustedProxies   peers whose {@code X-Forwarded-For} names the client
 * @param vllmGeneration   which vLLM the upstream is, for what its streams send a client ({@code auto}: told from
 *                         each stream's first chunk)
 * @param forceIncludeUsage the upstream runs with {@code --enable-force-include-usage}: usage it sends every client
 *                         is not removed
 */
public record Metering(String proxyHost, String tenantHeader, Secret apiKeyHashSecret, boolean continuousUsage,
                       TrustedProxies trustedProxies, VllmGeneration vllmGeneration, boolean forceIncludeUsage) {

    /** With the generation told from the bytes and no force flag. */
    public Metering(String proxyHost, String tenantHeader, Secret apiKeyHashSecret, boolean continuousUsage,
                    TrustedProxies trustedProxies) {
        this(proxyHost, tenantHeader, apiKeyHashSecret, continuousUsage, trustedProxies, VllmGeneration.AUTO, false);
    }

    private static final Pattern HEADER_NAME = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");

    public Metering {
        trustedProxies = trustedProxies == null ? TrustedProxies.NONE : trustedProxies;
        vllmGeneration = vllmGeneration == null ? VllmGeneration.AUTO : vllmGeneration;
        new Problems()
                .required("--proxy-host", proxyHost)
                .check(tenantHeader == null || HEADER_NAME.matcher(tenantHeader).matches(),
                        "--tenant-header must be an HTTP header name, got '" + tenantHeader + "'")
                .check(tenantHeader == null || !trustedProxies.isEmpty(), "--tenant-header is believed only from "
                        + "--trusted-proxies (the gateway that authenticated the caller), and none are set: any "
                        + "client could bill any tenant otherwise")
                .throwIfAny();
    }
}
