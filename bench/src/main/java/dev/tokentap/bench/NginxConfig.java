package dev.tokentap.bench;

import java.nio.file.Path;

/**
 * The nginx.conf the bench runs nginx with: the plainest streaming reverse proxy, for comparison.
 *
 * <p>One worker: the machine the bench is meant for has two cores that the load generator, the simulator and the
 * proxy under test already share, and tap-proxy gets no more than the same machine either; one worker is also
 * what keeps nginx's CPU per request comparable (no cross-worker accept contention). Buffering is off both ways so
 * every SSE event is passed on when it arrives, and the upstream keeps idle connections open like tap-proxy's
 * client pool does.
 */
public final class NginxConfig {

    private NginxConfig() {
    }

    public static String render(Path dir, int listenPort, int upstreamPort, int workers) {
        String d = dir.toAbsolutePath().toString();
        return """
                daemon off;
                master_process on;
                worker_processes %d;
                pid %s/nginx.pid;
                error_log %s/error.log warn;

                events {
                    worker_connections 4096;
                }

                http {
                    access_log off;
                    client_body_temp_path %s/client_body;
                    proxy_temp_path %s/proxy_temp;
                    fastcgi_temp_path %s/fastcgi_temp;
                    uwsgi_temp_path %s/uwsgi_temp;
                    scgi_temp_path %s/scgi_temp;
                    keepalive_requests 1000000;
                    keepalive_timeout 300s;
                    client_max_body_size 32m;

                    upstream vllm {
                        server 127.0.0.1:%d;
                        keepalive 512;
                        keepalive_requests 1000000;
                    }

                    server {
                        listen 127.0.0.1:%d;
                        location / {
                            proxy_pass http://vllm;
                            proxy_http_version 1.1;
                            proxy_set_header Connection "";
                            proxy_buffering off;
                            proxy_request_buffering off;
                            proxy_read_timeout 600s;
                        }
                    }
                }
                """.formatted(workers, d, d, d, d, d, d, d, upstreamPort, listenPort);
    }
}
