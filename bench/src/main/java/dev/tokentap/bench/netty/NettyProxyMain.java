package dev.tokentap.bench.netty;

import dev.tokentap.proxy.ProxyMetrics;
import dev.tokentap.proxy.TapProxy;
import dev.tokentap.proxy.TapProxyConfig;
import dev.tokentap.proxy.publish.UsagePublisher;
import dev.tokentap.proxy.usage.ApiKeyHasher;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.security.SecureRandom;
import java.util.Arrays;

/**
 * The Netty path in a JVM of its own, for {@code bench --netty-proxy}: tap-proxy's own flags (so it gets the same
 * upstream, Kafka, spool and limits as the tap-proxy beside it), the same spooling publisher tap-proxy builds from
 * them and the same metrics; no admin port (the bench waits for the proxy port). {@code --netty-threads N} first
 * sets the event loops (default: Netty's, two per core).
 */
public final class NettyProxyMain {

    private NettyProxyMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        int threads = 0;
        String[] rest = args;
        if (args.length >= 2 && "--netty-threads".equals(args[0])) {
            threads = Integer.parseInt(args[1]);
            rest = Arrays.copyOfRange(args, 2, args.length);
        }
        TapProxyConfig config = TapProxyConfig.fromArgs(rest, System.getenv());
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        ProxyMetrics metrics = new ProxyMetrics(registry);
        UsagePublisher publisher = TapProxy.publisher(config, metrics);
        byte[] secret = config.metering().apiKeyHashSecret() != null
                ? config.metering().apiKeyHashSecret().bytes() : new SecureRandom().generateSeed(32);
        NettyProxy proxy = NettyProxy.start(config, publisher, metrics, new ApiKeyHasher(secret), threads);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            proxy.close();
            publisher.close(TapProxy.CLOSE_TIMEOUT);
        }, "netty-proxy-shutdown"));
        System.out.println("netty proxy listening port=" + proxy.port() + " upstream=" + config.upstream().url());
    }
}
