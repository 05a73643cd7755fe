package dev.tokentap.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class NginxConfigTest {

    private final String conf = NginxConfig.render(Path.of("/tmp/bench-nginx"), 18080, 18000, 1);

    @Test
    void shouldRunInTheForegroundWithEverythingInItsOwnDirectory() {
        assertThat(conf).contains("daemon off;", "worker_processes 1;", "pid /tmp/bench-nginx/nginx.pid;",
                "error_log /tmp/bench-nginx/error.log", "access_log off;",
                "proxy_temp_path /tmp/bench-nginx/proxy_temp;");
    }

    @Test
    void shouldStreamToTheSimulatorOverKeptAliveConnections() {
        assertThat(conf).contains("listen 127.0.0.1:18080;", "server 127.0.0.1:18000;", "keepalive 512;",
                "proxy_pass http://vllm;", "proxy_http_version 1.1;", "proxy_set_header Connection \"\";",
                "proxy_buffering off;", "proxy_request_buffering off;");
    }

    @Test
    void shouldBalanceItsBraces() {
        assertThat(conf.chars().filter(c -> c == '{').count()).isEqualTo(conf.chars().filter(c -> c == '}').count());
    }
}
