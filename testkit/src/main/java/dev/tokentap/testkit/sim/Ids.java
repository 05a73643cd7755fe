package dev.tokentap.testkit.sim;

import java.util.UUID;

/** Random ids in vLLM's style: a UUID4 as 32 hex digits. */
final class Ids {

    private Ids() {
    }

    static String hex() {
        return UUID.randomUUID().toString().replace("-", "");
    }
}
