package dev.tokentap.proxy;

import dev.tokentap.event.Outcome;
import dev.tokentap.proxy.usage.MeteredRoutes;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The proxy's meters: names, tag keys and bounded tag values in one place. Prometheus sees the names with
 * underscores and the usual suffixes, e.g. {@code tokentap_proxy_requests_total}.
 */
public final class ProxyMetrics {

    /** Proxied requests, by route ({@link MeteredRoutes#ALL} or {@code other}) and {@link Outcome}. */
    public static final String REQUESTS = "tokentap.proxy.requests";
    /** Time from receiving a request to the upstream's response headers, by route. */
    public static final String UPSTREAM_LATENCY = "tokentap.proxy.upstream.latency";
    /** Metered requests that ended {@code ok} without the upstream reporting usage, by route. */
    public static final String USAGE_MISSING = "tokentap.proxy.usage.missing";
    /**
     * Metered requests whose upstream reported a usage that cannot be counts (negative, fractional, not a number,
     * above the bound), by route; their events say {@code usage_source="invalid"} and carry no counts.
     */
    public static final String USAGE_INVALID = "tokentap.proxy.usage.invalid";
    /**
     * Requests the proxy did not forward, by reason ({@link #REFUSAL_REASONS}); each is also counted in
     * {@link #REQUESTS} with {@code outcome="rejected"}.
     */
    public static final String REFUSALS = "tokentap.proxy.refusals";
    /** Bytes the request bodies held now take from the request memory budget. */
    public static final String REQUEST_MEMORY_HELD = "tokentap.proxy.request.memory.held";
    /** The request memory budget ({@code --request-memory-budget}), in bytes. */
    public static final String REQUEST_MEMORY_BUDGET = "tokentap.proxy.request.memory.budget";
    /** Over {@code --max-request-bytes} (413). */
    public static final String REFUSAL_TOO_LARGE = "too_large";
    /** The request memory budget had no room for the body (503). */
    public static final String REFUSAL_OVER_BUDGET = "over_budget";
    /** The body's framing was broken (400). */
    public static final String REFUSAL_MALFORMED = "malformed";
    /** The body came too slowly (408). */
    public static final String REFUSAL_TOO_SLOW = "too_slow";
    /** The proxy failed on its own before anything went upstream (500). */
    public static final String REFUSAL_FAILED = "failed";
    public static final List<String> REFUSAL_REASONS = List.of(REFUSAL_TOO_LARGE, REFUSAL_OVER_BUDGET,
            REFUSAL_MALFORMED, REFUSAL_TOO_SLOW, REFUSAL_FAILED);

    /** Usage events the broker acknowledged. */
    public static final String EVENTS_PUBLISHED = "tokentap.proxy.events.published";
    /** Usage events that were not published, by reason. */
    public static final String PUBLISH_FAILURES = "tokentap.proxy.publish.failures";
    /** Usage events held in memory by the publisher: queued, or taken by its thread and not yet written or sent. */
    public static final String PUBLISH_QUEUE_SIZE = "tokentap.proxy.publish.queue.size";

    /** Usage events written to the disk spool. */
    public static final String EVENTS_SPOOLED = "tokentap.proxy.events.spooled";
    /** Usage events sent again from the spool: left by an earlier process, or after a failed send. */
    public static final String EVENTS_REPLAYED = "tokentap.proxy.events.replayed";
    /** Usage events lost because the spool was at its size cap. */
    public static final String EVENTS_DROPPED = "tokentap.proxy.events.dropped";
    /**
     * Responses that ended before their usage event was in the spool's file: the spool was failing, or slower than
     * {@code --spool-write-timeout}. The event is written later; a kill before then loses it.
     */
    public static final String EVENTS_RELEASED_UNWRITTEN = "tokentap.proxy.events.released.unwritten";
    /** Bytes held in the disk spool. */
    public static final String SPOOL_BYTES = "tokentap.proxy.spool.bytes";
    /** Disk spool operations that failed with an I/O error (disk full, directory gone), by operation. */
    public static final String SPOOL_ERRORS = "tokentap.proxy.spool.errors";
    /** 1 while a part of the disk spool fails (its publisher's health), 0 once it works. */
    public static final String SPOOL_DEGRADED = "tokentap.proxy.spool.degraded";

    public static final String TAG_OPERATION = "operation";
    /** Appending events to the spool, or opening a new segment. */
    public static final String OPERATION_WRITE = "write";
    /** Forcing written segments to the device (fsync). */
    public static final String OPERATION_SYNC = "sync";
    /** Reading a segment to send it. */
    public static final String OPERATION_READ = "read";
    /** Deleting a delivered segment. */
    public static final String OPERATION_DELETE = "delete";
    public static final List<String> OPERATIONS = List.of(OPERATION_WRITE, OPERATION_SYNC, OPERATION_READ,
            OPERATION_DELETE);

    public static final String TAG_ROUTE = "route";
    public static final String TAG_OUTCOME = "outcome";
    public static final String TAG_REASON = "reason";

    /** The publish queue was full: Kafka is slower than the traffic, or away. */
    public static final String REASON_QUEUE_FULL = "queue_full";
    /** Kafka refused or timed out the send. */
    public static final String REASON_KAFKA_ERROR = "kafka_error";
    /** The publisher was closing and the event could not be sent in time. */
    public static final String REASON_SHUTDOWN = "shutdown";
    public static final List<String> REASONS = List.of(REASON_QUEUE_FULL, REASON_KAFKA_ERROR, REASON_SHUTDOWN);

    private static final List<String> ROUTES = java.util.stream.Stream.concat(MeteredRoutes.ALL.stream(),
            java.util.stream.Stream.of(MeteredRoutes.OTHER)).toList();

    private final MeterRegistry registry;
    private final Map<String, Counter> requests = new HashMap<>();
    private final Map<String, Timer> upstreamLatency = new HashMap<>();
    private final Map<String, Counter> usageMissing = new HashMap<>();
    private final Map<String, Counter> usageInvalid = new HashMap<>();
    private final Map<String, Counter> publishFailures = new HashMap<>();
    private final Map<String, Counter> refusals = new HashMap<>();
    private final Counter eventsPublished;
    private final Counter eventsSpooled;
    private final Counter eventsReplayed;
    private final Counter eventsDropped;
    private final Counter eventsReleasedUnwritten;
    private final Map<String, Counter> spoolErrors = new HashMap<>();

    public ProxyMetrics(MeterRegistry registry) {
        this.registry = registry;
        // every series exists from the start, at zero, so rates and alerts work before the first failure
        for (String route : ROUTES) {
            for (String outcome : Outcome.ALL) {
                requests.put(route + ' ' + outcome, Counter.builder(REQUESTS)
                        .description("Proxied requests by route and outcome")
                        .tag(TAG_ROUTE, route).tag(TAG_OUTCOME, outcome)
                        .register(registry));
            }
            upstreamLatency.put(route, Timer.builder(UPSTREAM_LATENCY)
                    .description("Time from the request to the upstream's response headers")
                    .tag(TAG_ROUTE, route)
                    .serviceLevelObjectives(Duration.ofMillis(10), Duration.ofMillis(50), Duration.ofMillis(100),
                            Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1),
                            Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(10),
                            Duration.ofSeconds(30), Duration.ofSeconds(60))
                    .register(registry));
        }
        for (String route : MeteredRoutes.ALL) {
            usageMissing.put(route, Counter.builder(USAGE_MISSING)
                    .description("Metered requests that ended ok without reported usage")
                    .tag(TAG_ROUTE, route)
                    .register(registry));
        }
        for (String route : ROUTES) {
            usageInvalid.put(route, Counter.builder(USAGE_INVALID)
                    .description("Metered requests whose upstream reported usage values that cannot be counts")
                    .tag(TAG_ROUTE, route)
                    .register(registry));
        }
        for (String reason : REASONS) {
            publishFailures.put(reason, Counter.builder(PUBLISH_FAILURES)
                    .description("Usage events that were not published, by reason")
                    .tag(TAG_REASON, reason)
                    .register(registry));
        }
        for (String reason : REFUSAL_REASONS) {
            refusals.put(reason, Counter.builder(REFUSALS)
                    .description("Requests the proxy did not forward, by reason")
                    .tag(TAG_REASON, reason)
                    .register(registry));
        }
        eventsPublished = Counter.builder(EVENTS_PUBLISHED)
                .description("Usage events acknowledged by Kafka")
                .register(registry);
        eventsSpooled = Counter.builder(EVENTS_SPOOLED)
                .description("Usage events written to the disk spool")
                .register(registry);
        eventsReplayed = Counter.builder(EVENTS_REPLAYED)
                .description("Usage events sent again from the spool (left by an earlier run, or after a failed send)")
                .register(registry);
        eventsDropped = Counter.builder(EVENTS_DROPPED)
                .description("Usage events lost because the disk spool was full")
                .register(registry);
        eventsReleasedUnwritten = Counter.builder(EVENTS_RELEASED_UNWRITTEN)
                .description("Responses that ended before their usage event was written to the disk spool")
                .register(registry);
        for (String operation : OPERATIONS) {
            spoolErrors.put(operation, Counter.builder(SPOOL_ERRORS)
                    .description("Disk spool operations that failed with an I/O error")
                    .tag(TAG_OPERATION, operation)
                    .register(registry));
        }
    }

    public void eventSpooled() {
        eventsSpooled.increment();
    }

    public void eventReplayed() {
        eventsReplayed.increment();
    }

    public void eventDropped() {
        eventsDropped.increment();
    }

    /** Counts a failed spool operation; {@code operation} is one of {@link #OPERATIONS}. */
    public void spoolError(String operation) {
        Counter counter = spoolErrors.get(operation);
        if (counter == null) {
            throw new IllegalArgumentException("unknown spool operation " + operation);
        }
        counter.increment();
    }

    public void eventReleasedUnwritten() {
        eventsReleasedUnwritten.increment();
    }

    /** Registers the degraded gauge over what the publisher says of its health; the gauge only observes it. */
    public void spoolDegraded(BooleanSupplier degraded) {
        Gauge.builder(SPOOL_DEGRADED, () -> degraded.getAsBoolean() ? 1 : 0)
                .description("1 while a part of the disk spool fails: usage events wait in memory or on disk")
                .strongReference(true)
                .register(registry);
    }

    /** Registers the spool size gauge over {@code bytes}. */
    public void spoolBytes(Supplier<Number> bytes) {
        Gauge.builder(SPOOL_BYTES, bytes)
                .description("Bytes of usage events held in the disk spool")
                .baseUnit("bytes")
                .strongReference(true)
                .register(registry);
    }

    public MeterRegistry registry() {
        return registry;
    }

    /** The route tag for a metered route, or {@code other}. */
    public static String routeTag(String meteredRoute) {
        return meteredRoute == null ? MeteredRoutes.OTHER : meteredRoute;
    }

    public void request(String meteredRoute, String outcome) {
        Counter counter = requests.get(routeTag(meteredRoute) + ' ' + outcome);
        if (counter != null) {
            counter.increment();
        }
    }

    public void upstreamLatency(String meteredRoute, long nanos) {
        upstreamLatency.get(routeTag(meteredRoute)).record(Duration.ofNanos(nanos));
    }

    public void usageMissing(String meteredRoute) {
        Counter counter = usageMissing.get(meteredRoute);
        if (counter != null) {
            counter.increment();
        }
    }

    public void usageInvalid(String meteredRoute) {
        usageInvalid.get(routeTag(meteredRoute)).increment();
    }

    /** Counts a request the proxy did not forward; {@code reason} is one of {@link #REFUSAL_REASONS}. */
    public void refusal(String reason) {
        Counter counter = refusals.get(reason);
        if (counter == null) {
            throw new IllegalArgumentException("unknown refusal reason " + reason);
        }
        counter.increment();
    }

    /** Registers the gauges of the request memory budget: what is held now, over {@code budget}. */
    public void requestMemory(Supplier<Number> held, long budget) {
        Gauge.builder(REQUEST_MEMORY_HELD, held)
                .description("Bytes the request bodies held now take from the request memory budget")
                .baseUnit("bytes")
                .strongReference(true)
                .register(registry);
        Gauge.builder(REQUEST_MEMORY_BUDGET, () -> budget)
                .description("The request memory budget")
                .baseUnit("bytes")
                .strongReference(true)
                .register(registry);
    }

    public void eventPublished() {
        eventsPublished.increment();
    }

    /** Counts an event that was not published; {@code reason} is one of {@link #REASONS}. */
    public void publishFailure(String reason) {
        Counter counter = publishFailures.get(reason);
        if (counter == null) {
            throw new IllegalArgumentException("unknown publish failure reason " + reason);
        }
        counter.increment();
    }

    /** Registers the publish queue gauge over {@code size}. */
    public void publishQueue(Supplier<Number> size) {
        Gauge.builder(PUBLISH_QUEUE_SIZE, size)
                .description("Usage events held in memory by the publisher, queued or being written or sent")
                .strongReference(true)
                .register(registry);
    }
}
