package dev.tokentap.event;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.math.BigDecimal;
import java.util.Collections;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * One client's usage of one model on one route in one hour, as the aggregator writes it to {@link Topics#HOURLY},
 * keyed by {@link #clientName()}. A {@value #FINAL} record is written once per (namespace, client_name, model, route,
 * hour), when the hour plus the aggregator's grace period has passed, and never again; requests the aggregator reads
 * after that come in {@value #LATE} records for the same hour, each counting only what arrived since the one before.
 * The sum of every record of an hour, final and late, is that hour's usage. Read and write it with
 * {@link HourlyUsageCodec}.
 *
 * @param schemaVersion    {@value #SCHEMA_VERSION}
 * @param recordId         unique per record, the same when a record is read twice: the idempotency key
 * @param kind             {@value #FINAL} or {@value #LATE}
 * @param hourStart        epoch milliseconds, the hour's start (UTC), inclusive
 * @param hourEnd          epoch milliseconds, the hour's end, exclusive
 * @param namespace        the callers' namespace, {@code unknown} outside Kubernetes
 * @param clientName       the client the usage is billed to (the real name, never capped)
 * @param model            the request body's {@code model}, {@code unknown} when it had none
 * @param route            the metered route, or {@code other}
 * @param requests         requests per outcome
 * @param promptTokens     sum of {@code prompt_tokens}
 * @param completionTokens sum of {@code completion_tokens}
 * @param totalTokens      sum of {@code total_tokens} (prompt plus completion where a request had no total)
 * @param cachedTokens     sum of {@code cached_tokens}
 * @param reasoningTokens  sum of {@code reasoning_tokens}
 * @param audioSeconds     sum of {@code audio_seconds}, exact
 * @param cost             sum of the requests' costs, per currency; absent when none had a price
 * @param unpricedRequests requests whose model had no price at their {@code started_at}: in no cost
 * @param firstEventAt     the earliest {@code started_at} counted, epoch milliseconds
 * @param lastEventAt      the latest {@code started_at} counted, epoch milliseconds
 * @param closedAt         when the aggregator wrote the record, by its clock, epoch milliseconds
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"schema_version", "record_id", "kind", "hour_start", "hour_end", "namespace", "client_name",
        "model", "route", "requests", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
        "reasoning_tokens", "audio_seconds", "cost", "unpriced_requests", "first_event_at", "last_event_at",
        "closed_at"})
public record HourlyUsage(
        int schemaVersion,
        String recordId,
        String kind,
        long hourStart,
        long hourEnd,
        String namespace,
        String clientName,
        String model,
        String route,
        SortedMap<String, Long> requests,
        long promptTokens,
        long completionTokens,
        long totalTokens,
        long cachedTokens,
        long reasoningTokens,
        BigDecimal audioSeconds,
        Cost cost,
        long unpricedRequests,
        Long firstEventAt,
        Long lastEventAt,
        long closedAt) {

    /** The schema version this class writes. */
    public static final int SCHEMA_VERSION = 1;
    /** The record of an hour written once it closed. */
    public static final String FINAL = "final";
    /** Requests of a closed hour that the aggregator read after it closed. */
    public static final String LATE = "late";

    public HourlyUsage {
        requests = Collections.unmodifiableSortedMap(requests == null ? new TreeMap<>() : new TreeMap<>(requests));
        audioSeconds = audioSeconds == null ? BigDecimal.ZERO : audioSeconds;
        cost = cost == null || cost.isEmpty() ? null : cost;
    }

    /** All requests, whatever their outcome. */
    @JsonIgnore
    public long requestCount() {
        return requests.values().stream().mapToLong(Long::longValue).sum();
    }

    /** The cost, {@link Cost#NONE} when there is none. */
    @JsonIgnore
    public Cost costOrNone() {
        return cost == null ? Cost.NONE : cost;
    }
}
