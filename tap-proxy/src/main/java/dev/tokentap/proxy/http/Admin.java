package dev.tokentap.proxy.http;

import dev.tokentap.config.Problems;
import dev.tokentap.config.Secret;

/**
 * The admin port: {@code /metrics}, {@code /healthz}, {@code /readyz}.
 *
 * @param listen address it binds
 * @param port   its port; 0 picks a free one
 * @param token  bearer token {@code /metrics} requires; null for none
 */
public record Admin(String listen, int port, Secret token) {

    public Admin {
        new Problems().required("--admin-listen", listen).port("--admin-port", port).throwIfAny();
    }
}
