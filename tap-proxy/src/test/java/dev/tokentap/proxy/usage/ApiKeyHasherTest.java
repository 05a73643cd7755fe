package dev.tokentap.proxy.usage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

class ApiKeyHasherTest {

    private static final byte[] SECRET = "s3cret".getBytes(StandardCharsets.UTF_8);
    private final ApiKeyHasher hasher = new ApiKeyHasher(SECRET);

    @Test
    void shouldBeTheHexHmacSha256OfTheBearerToken() throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec("s3cret".getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        String expected = HexFormat.of().formatHex(mac.doFinal("sk-abc123".getBytes(StandardCharsets.UTF_8)));

        assertThat(hasher.idForAuthorization("Bearer sk-abc123")).isEqualTo(expected).hasSize(64);
        assertThat(hasher.idForAuthorization("bearer   sk-abc123 ")).isEqualTo(expected);
    }

    @Test
    void shouldNeverContainTheToken() {
        assertThat(hasher.idForAuthorization("Bearer sk-abc123")).doesNotContain("sk-abc123");
    }

    @Test
    void shouldDifferBySecret() {
        ApiKeyHasher other = new ApiKeyHasher("other".getBytes(StandardCharsets.UTF_8));

        assertThat(other.idForToken("sk-abc123")).isNotEqualTo(hasher.idForToken("sk-abc123"));
    }

    @Test
    void shouldGiveNoIdWithoutABearerToken() {
        assertThat(hasher.idForAuthorization(null)).isNull();
        assertThat(hasher.idForAuthorization("Bearer ")).isNull();
        assertThat(hasher.idForAuthorization("Basic dXNlcjpwYXNz")).isNull();
        assertThat(hasher.idForAuthorization("Bearer")).isNull();
    }

    @Test
    void shouldGiveTheSameIdOnEveryThread() throws Exception {
        String here = hasher.idForToken("sk-abc123");
        String[] there = new String[1];
        Thread thread = new Thread(() -> there[0] = hasher.idForToken("sk-abc123"));
        thread.start();
        thread.join();

        assertThat(there[0]).isEqualTo(here);
    }

    @Test
    void shouldGiveEachKeyItsOwnIdWhenManyKeysPassThroughTheCacheOfRecentOnes() {
        // given a hasher that has seen a key, then more distinct keys than it remembers
        String first = hasher.idForToken("sk-first");
        java.util.Set<String> ids = new java.util.HashSet<>();
        for (int i = 0; i < 3 * ApiKeyHasher.CACHED_KEYS; i++) {
            ids.add(hasher.idForToken("sk-" + i));
        }

        // then every key had an id of its own, and the first key's id is what a fresh hasher computes
        assertThat(ids).hasSize(3 * ApiKeyHasher.CACHED_KEYS);
        assertThat(hasher.idForToken("sk-first")).isEqualTo(first)
                .isEqualTo(new ApiKeyHasher(SECRET).idForToken("sk-first"));
        assertThat(hasher.idForToken("sk-7")).isEqualTo(new ApiKeyHasher(SECRET).idForToken("sk-7"));
    }

    @Test
    void shouldRefuseAnEmptySecret() {
        assertThatThrownBy(() -> new ApiKeyHasher(new byte[0])).isInstanceOf(IllegalArgumentException.class);
    }
}
