package dev.tokentap.aggregator.http;

import dev.tokentap.config.Problems;
import dev.tokentap.config.Secret;

/**
 * The aggregator's HTTP port: {@code /metrics}, {@code /api/v1/usage}, {@code /healthz}, {@code /readyz}.
 *
 * @param listen address it binds
 * @param port   its port; 0 picks a free one
 * @param token  bearer token {@code /metrics} and {@code /api/v1/usage} require; null for none
 */
public record HttpApi(String listen, int port, Secret token) {

    public static final int DEFAULT_PORT = 9400;

    public HttpApi {
        new Problems().required("--listen", listen).port("--port", port).throwIfAny();
    }
}
