package dev.tokentap.proxy;

import dev.tokentap.event.UsageEvent;
import dev.tokentap.proxy.publish.UsagePublisher;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** Keeps published events in memory, for tests that check events without a broker. */
final class RecordingPublisher implements UsagePublisher {
    private final List<UsageEvent> events = new CopyOnWriteArrayList<>();

    @Override
    public void publish(UsageEvent event) {
        events.add(event);
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
