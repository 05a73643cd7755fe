package dev.tokentap.proxy;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.proxy.publish.PublisherHealth;
import dev.tokentap.proxy.publish.UsagePublisher;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;

/** Keeps published events in memory, for tests that check events without a broker. */
final class RecordingPublisher implements UsagePublisher {
    private final List<UsageEvent> events = new CopyOnWriteArrayList<>();
    private volatile PublisherHealth health = PublisherHealth.HEALTHY;

    @Override
    public CompletionStage<Void> publish(UsageEvent event) {
        events.add(event);
        return TAKEN;
    }

    @Override
    public PublisherHealth health() {
        return health;
    }

    /** What {@link #health} says from now on. */
    void health(PublisherHealth value) {
        health = value;
    }

    @Override
    public void close(Duration timeout) {
    }

    List<UsageEvent> events() {
        return List.copyOf(events);
    }

    List<UsageEvent> byRequestId(String requestId) {
        return events.stream().filter(e -> requestId.equals(e.requestId())).toList();
    }
}
