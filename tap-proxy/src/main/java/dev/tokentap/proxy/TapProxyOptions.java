package dev.tokentap.proxy;

import dev.tokentap.config.Configurable;
import dev.tokentap.config.EnvAlias;
import dev.tokentap.config.KafkaClients;
import dev.tokentap.config.KafkaOptions;
import dev.tokentap.config.ListenOption;
import dev.tokentap.config.Ports;
import dev.tokentap.config.Problems;
import dev.tokentap.config.Secret;
import dev.tokentap.config.Sizes;
import dev.tokentap.proxy.http.Admin;
import dev.tokentap.proxy.http.ClientLimits;
import dev.tokentap.proxy.http.Metering;
import dev.tokentap.proxy.http.TrustedProxies;
import dev.tokentap.proxy.http.Upstream;
import dev.tokentap.proxy.publish.Publishing;
import dev.tokentap.proxy.usage.VllmGeneration;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/**
 * Every option of tap-proxy, each declared once, in groups by concern that {@code tokentap run} and {@code demo}
 * mix in as they are; each group builds its record. The options only the standalone process has ({@code --port},
 * {@code --spool-dir}) are the launcher's to replace ({@code --proxy-port}, {@code --data-dir}).
 */
@Command(name = "tap-proxy",
        description = "Forwards every request to a vLLM server and publishes one usage event per request to Kafka.")
public final class TapProxyOptions implements Configurable<TapProxyConfig> {

    @Mixin public UpstreamOptions upstream;
    @Mixin public KafkaOptions kafka;
    @Mixin public ListenOption listen;

    @Option(names = "--port", paramLabel = "PORT", defaultValue = "" + TapProxyConfig.DEFAULT_PORT,
            converter = Ports.Converter.class, description = "proxy port; 0 picks a free one")
    int port;

    @Mixin public AdminOptions admin;
    @Mixin public MeteringOptions metering;
    @Mixin public PublishingOptions publishing;

    @Option(names = "--spool-dir", paramLabel = "DIR", defaultValue = Publishing.DEFAULT_SPOOL_DIR,
            description = "directory where usage events wait on disk until Kafka has them, one proxy per directory; "
                    + "'none' keeps them in memory only")
    String spoolDir;

    @Mixin public ClientOptions clients;

    @Override
    public TapProxyConfig configure() {
        Path spool = "none".equalsIgnoreCase(spoolDir.strip()) ? null : Path.of(spoolDir.strip());
        Problems problems = new Problems();
        Upstream upstreamRecord = problems.collect(upstream::toRecord);
        ClientLimits limits = problems.collect(clients::toRecord);
        Metering meteringRecord = problems.collect(metering::toRecord);
        Publishing publishingRecord = problems.collect(() -> publishing.toRecord(kafka.clients(), kafka.topic(), spool));
        Admin adminRecord = problems.collect(() -> admin.toRecord(listen.address()));
        problems.check(port == 0 || adminRecord == null || port != adminRecord.port(),
                "--port and --admin-port must differ, both are " + port);
        // built even when a part failed, so that its own checks are reported with the parts'
        TapProxyConfig config = problems.collect(() -> new TapProxyConfig(listen.address(), port, upstreamRecord,
                limits, meteringRecord, publishingRecord, adminRecord));
        problems.throwIfAny();
        return config;
    }

    /** The upstream: where requests go and how long the proxy waits for it. */
    public static final class UpstreamOptions {
        @Option(names = "--upstream", paramLabel = "URL", description = "vLLM base URL, e.g. http://127.0.0.1:8000 "
                + "(required)")
        URI url;

        @Option(names = "--connect-timeout", paramLabel = "DURATION", defaultValue = "5s",
                description = "how long to wait for a connection to the upstream; past it the client gets 502")
        Duration connectTimeout;

        @Option(names = "--upstream-timeout", paramLabel = "DURATION", defaultValue = "600s",
                description = "longest silence from the upstream, before headers or between bytes; past it the "
                        + "client gets 504 or the stream is cut")
        Duration timeout;

        public Upstream toRecord() {
            return new Upstream(url, connectTimeout, timeout);
        }

        /** The same timeouts in front of {@code url} (the demo's simulator). */
        public Upstream toRecord(URI url) {
            return new Upstream(url, connectTimeout, timeout);
        }
    }

    /** The admin port. */
    public static final class AdminOptions {
        @Option(names = "--admin-port", paramLabel = "PORT", defaultValue = "" + TapProxyConfig.DEFAULT_ADMIN_PORT,
                converter = Ports.Converter.class, description = "admin port: /metrics, /healthz, /readyz; 0 picks a "
                + "free one")
        int port;

        @Option(names = "--admin-listen", paramLabel = "ADDRESS",
                description = "address of the admin port alone, e.g. 127.0.0.1 or a management network "
                        + "(default: --listen)")
        String listen;

        @Option(names = "--admin-token-file", paramLabel = "FILE", converter = Secret.FromFile.class,
                description = "file holding a bearer token that /metrics requires; /healthz and /readyz stay open")
        Secret token;

        public Admin toRecord(String serversListen) {
            return new Admin(listen != null && !listen.isBlank() ? listen : serversListen, port, token);
        }
    }

    /** What each usage event records besides the usage. */
    public static final class MeteringOptions {
        @EnvAlias("HOSTNAME")
        @Option(names = "--proxy-host", paramLabel = "NAME",
                description = "this proxy's name in events, the hostname label (default: the host name)")
        String proxyHost;

        @Option(names = "--tenant-header", paramLabel = "HEADER",
                description = "request header naming the tenant, e.g. X-Tenant-Id, set by the gateway that "
                        + "authenticated the caller; believed only from --trusted-proxies, which it requires")
        String tenantHeader;

        @Option(names = "--api-key-hash-secret", paramLabel = "SECRET",
                description = "HMAC secret for api_key_id (default: random per process, so ids differ across "
                        + "restarts and replicas)")
        Secret apiKeyHashSecret;

        @Option(names = "--api-key-hash-secret-file", paramLabel = "FILE", converter = Secret.FromFile.class,
                description = "file holding the HMAC secret for api_key_id, e.g. a mounted Secret")
        Secret apiKeyHashSecretFile;

        @Option(names = "--continuous-usage", paramLabel = "true|false", arity = "1", defaultValue = "true",
                description = "when the proxy asks a stream for usage, ask vLLM for continuous_usage_stats as well "
                        + "as include_usage (and remove both from the client's view unless it asked for them), so a "
                        + "stream that ends early is billed up to its last chunk; false asks for include_usage only")
        boolean continuousUsage;

        @Option(names = "--vllm-generation", paramLabel = "auto|current|legacy", defaultValue = "auto",
                converter = VllmGenerationConverter.class,
                description = "which vLLM the upstream is, for what its streams would send a client directly: current "
                        + "(include_usage off unless asked, fingerprint on the usage chunk), legacy (0.6 to 0.10: "
                        + "usage whenever stream_options is present), auto tells each stream by its first chunk")
        VllmGeneration vllmGeneration;

        @Option(names = "--vllm-force-include-usage", paramLabel = "true|false", arity = "1", defaultValue = "false",
                description = "the upstream vLLM runs with --enable-force-include-usage: the usage it sends every "
                        + "client anyway is not removed from the client's view")
        boolean vllmForceIncludeUsage;

        @Option(names = "--trusted-proxies", paramLabel = "CIDRS", converter = TrustedProxiesConverter.class,
                description = "comma-separated addresses or CIDR ranges of load balancers or gateways whose "
                        + "X-Forwarded-For names the client, and whose --tenant-header names the tenant; from any "
                        + "other peer both are ignored")
        TrustedProxies trustedProxies;

        public Metering toRecord() {
            new Problems().check(apiKeyHashSecret == null || apiKeyHashSecretFile == null,
                    "--api-key-hash-secret-file and --api-key-hash-secret are both set; give one").throwIfAny();
            return new Metering(proxyHost != null && !proxyHost.isBlank() ? proxyHost : localHostName(),
                    tenantHeader, apiKeyHashSecret != null ? apiKeyHashSecret : apiKeyHashSecretFile,
                    continuousUsage, trustedProxies, vllmGeneration, vllmForceIncludeUsage);
        }

        private static String localHostName() {
            try {
                return InetAddress.getLocalHost().getHostName();
            } catch (UnknownHostException e) {
                return "localhost";
            }
        }
    }

    /** How events wait for Kafka; the spool's directory is the process's or the launcher's. */
    public static final class PublishingOptions {
        @Option(names = "--publish-queue", paramLabel = "EVENTS", defaultValue = "100000",
                description = "events held in memory in front of the spool (or, without one, while Kafka is slow or "
                        + "away)")
        int queue;

        @Option(names = "--spool-max-bytes", paramLabel = "SIZE", defaultValue = "1GiB", converter = Sizes.class,
                description = "cap of the spool; events beyond it are dropped and counted")
        long spoolMaxBytes;

        @Option(names = "--spool-write-timeout", paramLabel = "DURATION", defaultValue = "1s",
                description = "longest a response's last bytes wait for its usage event to be written to the spool "
                        + "file (so that a killed proxy loses no answered request); past it the response ends and "
                        + "the event is written later; at least 1ms")
        Duration spoolWriteTimeout;

        /** @param spoolDir the spool's directory; null publishes from memory only */
        public Publishing toRecord(KafkaClients kafka, String topic, Path spoolDir) {
            Problems problems = new Problems();
            Publishing.Spool spool = spoolDir == null ? null
                    : problems.collect(() -> new Publishing.Spool(spoolDir, spoolMaxBytes, spoolWriteTimeout));
            Publishing publishing = problems.collect(() -> new Publishing(kafka, topic, queue, spool));
            problems.throwIfAny();
            return publishing;
        }
    }

    /** What the proxy port allows a client. */
    public static final class ClientOptions {
        @Option(names = "--client-idle-timeout", paramLabel = "DURATION", defaultValue = "300s",
                description = "longest silence from a client while the proxy waits to read from it: a stalled "
                        + "request line, headers or body, or an idle keep-alive connection; a client waiting for "
                        + "a slow response is not cut")
        Duration idleTimeout;

        @Option(names = "--client-header-timeout", paramLabel = "DURATION", defaultValue = "10s",
                description = "longest time a client may take to send a request line and headers, from the "
                        + "connection's accept (first request) or the request's first byte (later ones); then the "
                        + "connection is closed")
        Duration headerTimeout;

        @Option(names = "--max-header-bytes", paramLabel = "SIZE", defaultValue = "8KiB", converter = Sizes.class,
                description = "largest request line and headers accepted (1KiB to 1MiB); more is answered 431")
        long maxHeaderBytes;

        @Option(names = "--max-request-bytes", paramLabel = "SIZE", defaultValue = "32MiB", converter = Sizes.class,
                description = "largest request body forwarded; a larger one is answered 413 and nothing reaches the "
                        + "upstream")
        long maxRequestBytes;

        @Option(names = "--client-min-request-rate", paramLabel = "SIZE", defaultValue = "0", converter = Sizes.class,
                description = "bytes per second below which a request body being read is cut (a client trickling "
                        + "its body); 0 for no minimum")
        long minRequestRate;

        @Option(names = "--max-threads", paramLabel = "THREADS",
                description = "threads of the proxy port, shared with its upstream client; the proxy is "
                        + "asynchronous, so a stream waiting for tokens holds none (default: 4 per core, at least 16)")
        Integer maxThreads;

        @Option(names = "--drain-timeout", paramLabel = "DURATION", defaultValue = "30s",
                description = "on SIGTERM, how long requests in flight (streams too) may take to finish")
        Duration drainTimeout;

        // one body of the largest size at a time: the third of the image's 96 MiB heap that the proxy's own live
        // data (some 20 MiB with hundreds of streams) and the young generation leave free (docs/operations.md)
        @Option(names = "--request-memory-budget", paramLabel = "SIZE", defaultValue = "32MiB",
                converter = Sizes.class,
                description = "memory all request bodies held in the proxy at once may take (every body but a "
                        + "multipart upload is held until complete); one that would pass it is answered 503 with "
                        + "Retry-After and nothing reaches the upstream; at least --max-request-bytes, and well "
                        + "under the heap")
        long requestMemoryBudget;

        public ClientLimits toRecord() {
            return new ClientLimits(idleTimeout, headerTimeout, (int) Math.min(Integer.MAX_VALUE, maxHeaderBytes),
                    maxRequestBytes, minRequestRate, maxThreads != null ? maxThreads : ClientLimits.defaultMaxThreads(),
                    drainTimeout, requestMemoryBudget);
        }
    }

    /** Reads {@code --trusted-proxies}. */
    static final class VllmGenerationConverter implements ITypeConverter<VllmGeneration> {
        @Override
        public VllmGeneration convert(String value) {
            try {
                return VllmGeneration.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    static final class TrustedProxiesConverter implements ITypeConverter<TrustedProxies> {
        @Override
        public TrustedProxies convert(String value) {
            try {
                return TrustedProxies.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
