package dev.tokentap.aggregator.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class PodTimelineTest {

    static final PodIdentity A = pod("a");
    static final PodIdentity B = pod("b");

    private final PodTimeline timeline = new PodTimeline(10_000);

    @Test
    void shouldResolveALivePodFromItsStartOn() {
        timeline.hold("10.0.0.1", "uid-a", A, 1_000);

        assertThat(timeline.lookup("10.0.0.1", 1_000)).isSameAs(A);
        assertThat(timeline.lookup("10.0.0.1", Long.MAX_VALUE - 1)).isSameAs(A);
        assertThat(timeline.lookup("10.0.0.1", 999)).isNull();
        assertThat(timeline.lookup("10.0.0.2", 1_000)).isNull();
    }

    @Test
    void shouldKeepADeletedPodForEventsFromBeforeItsDeletion() {
        timeline.hold("10.0.0.1", "uid-a", A, 1_000);
        timeline.release("10.0.0.1", "uid-a", 5_000);

        assertThat(timeline.lookup("10.0.0.1", 4_999)).isSameAs(A);
        assertThat(timeline.lookup("10.0.0.1", 5_000)).isNull();
    }

    @Test
    void shouldResolveAReusedIpByTime() {
        timeline.hold("10.0.0.1", "uid-a", A, 1_000);
        timeline.release("10.0.0.1", "uid-a", 5_000);
        timeline.hold("10.0.0.1", "uid-b", B, 6_000);

        assertThat(timeline.lookup("10.0.0.1", 2_000)).isSameAs(A);
        assertThat(timeline.lookup("10.0.0.1", 5_500)).isNull();
        assertThat(timeline.lookup("10.0.0.1", 7_000)).isSameAs(B);
    }

    @Test
    void shouldCloseAnOpenHoldWhenAnotherPodTakesTheIpWithoutADeleteSeen() {
        timeline.hold("10.0.0.1", "uid-a", A, 1_000);
        timeline.hold("10.0.0.1", "uid-b", B, 6_000);

        assertThat(timeline.lookup("10.0.0.1", 2_000)).isSameAs(A);
        assertThat(timeline.lookup("10.0.0.1", 6_000)).isSameAs(B);
    }

    @Test
    void shouldUpdateAPodsIdentityInPlace() {
        PodIdentity relabelled = new PodIdentity("ns", "a", "Deployment", "a", "sa", "node",
                new java.util.TreeMap<>(Map.of("team", "new")));
        timeline.hold("10.0.0.1", "uid-a", A, 1_000);
        timeline.hold("10.0.0.1", "uid-a", relabelled, 1_000);

        assertThat(timeline.lookup("10.0.0.1", 2_000)).isSameAs(relabelled);
    }

    @Test
    void shouldForgetTombstonesAfterTheRetention() {
        timeline.hold("10.0.0.1", "uid-a", A, 1_000);
        timeline.release("10.0.0.1", "uid-a", 5_000);
        timeline.hold("10.0.0.2", "uid-b", B, 1_000);

        timeline.expire(5_000 + 10_000);
        assertThat(timeline.lookup("10.0.0.1", 2_000)).isSameAs(A);

        timeline.expire(5_000 + 10_001);
        assertThat(timeline.lookup("10.0.0.1", 2_000)).isNull();
        assertThat(timeline.lookup("10.0.0.2", 2_000)).isSameAs(B);
        assertThat(timeline.size()).isEqualTo(1);
    }

    @Test
    void shouldNotAllocateOnLookup() {
        // given a timeline of a thousand pods
        String[] ips = new String[1_000];
        for (int i = 0; i < ips.length; i++) {
            ips[i] = "10.0." + (i / 256) + "." + (i % 256);
            timeline.hold(ips[i], "uid-" + i, pod("p" + i), 1_000);
        }
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long found = lookups(ips) + threads.getCurrentThreadAllocatedBytes();

        // when it is looked up a hundred thousand times
        long before = threads.getCurrentThreadAllocatedBytes();
        for (int round = 0; round < 100; round++) {
            found += lookups(ips);
        }
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;

        // then (allowing for the measurement's own few bytes) nothing was allocated per lookup
        assertThat(allocated).as("bytes allocated by 100,000 lookups").isLessThan(1_000);
        assertThat(found).isPositive();
    }

    private long lookups(String[] ips) {
        long found = 0;
        for (String ip : ips) {
            if (timeline.lookup(ip, 2_000) != null) {
                found++;
            }
        }
        return found;
    }

    private static PodIdentity pod(String name) {
        return new PodIdentity("ns", name, "Deployment", name, "sa", "node", null);
    }
}
