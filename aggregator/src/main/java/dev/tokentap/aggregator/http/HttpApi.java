package dev.tokentap.aggregator.http;

import dev.tokentap.config.Problems;
import dev.tokentap.config.Secret;

/**
 * The aggregator's HTTP port: {@code /metrics}, {@code /api/v1/usage}, {@code /healthz}, {@code /readyz}.
 *
 * @param listen address it binds
 * @param port   its port; 0 picks a free one
 * @param token  bearer token {@code /metrics} and {@code /api/v1/usage} require; null for none
 * @param advertisedHost the host other replicas reach this port at, for {@code /api/v1/usage} across replicas; null
 *                       for the {@code listen} address, or this machine's address when that is a wildcard
 */
public record HttpApi(String listen, int port, Secret token, String advertisedHost) {

    public static final int DEFAULT_PORT = 9400;

    public HttpApi {
        new Problems().required("--listen", listen).port("--port", port).throwIfAny();
        advertisedHost = advertisedHost == null || advertisedHost.isBlank() ? null : advertisedHost.strip();
    }

    /** The port with no advertised host of its own. */
    public HttpApi(String listen, int port, Secret token) {
        this(listen, port, token, null);
    }
}
