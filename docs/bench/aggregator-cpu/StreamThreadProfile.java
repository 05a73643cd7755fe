import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;

/**
 * Reads a flight recording of {@code tokentap bench --scenario aggregator} and sums the stream threads' execution
 * samples within the drain window the bench printed ("window ... to ..."): by phase of the stream thread's loop
 * (processing, committing, polling, punctuating) and by what the innermost frame of the project, Kafka or RocksDB
 * was doing, passing over the JDK's, Jackson's and Kafka's serializers and utilities so that their time goes to
 * whoever called them. Also counts every thread's samples in the window, by name. Record with
 * {@code -XX:FlightRecorderOptions:stackdepth=256}: the stream thread's stacks are deeper than the default 64.
 *
 * <pre>
 * java docs/bench/aggregator-cpu/StreamThreadProfile.java RECORDING.jfr WINDOW_START WINDOW_END
 * </pre>
 */
public class StreamThreadProfile {

    /** The first rule whose prefix a frame's class (or class.method) starts with names what that frame does. */
    static final List<Map.Entry<String, String>> WHAT = List.of(
            Map.entry("org.rocksdb.", "RocksDB (JNI calls)"),
            Map.entry("dev.tokentap.event.UsageEventCodec", "usage event decode"),
            Map.entry("dev.tokentap.aggregator.topology.UsageValues", "usage event decode"),
            Map.entry("dev.tokentap.event.EnrichedUsageEventCodec", "enriched record encode"),
            Map.entry("dev.tokentap.event.HourlyUsageCodec", "hourly record encode"),
            Map.entry("dev.tokentap.aggregator.topology.JsonSerde", "labels, totals, hourly key serdes"),
            Map.entry("dev.tokentap.aggregator.topology.CountedUsageSerde", "repartition value serde"),
            Map.entry("dev.tokentap.aggregator.topology.UsageLabels", "labels, totals, hourly key serdes"),
            Map.entry("dev.tokentap.aggregator.topology.UsageTotals", "totals update"),
            Map.entry("dev.tokentap.aggregator.topology.EventDeduplicator", "de-duplication"),
            Map.entry("dev.tokentap.aggregator.topology.HourlyRecords", "hourly sums and punctuation"),
            Map.entry("dev.tokentap.aggregator.topology.ResponseBilling", "response billing"),
            Map.entry("dev.tokentap.aggregator.topology.SeriesCap", "series caps"),
            Map.entry("dev.tokentap.aggregator.identity", "identity"),
            Map.entry("dev.tokentap.aggregator.k8s", "identity"),
            Map.entry("dev.tokentap.aggregator.AggregatorMetrics", "metrics (Micrometer)"),
            Map.entry("io.micrometer", "metrics (Micrometer)"),
            Map.entry("dev.tokentap", "other project code"),
            Map.entry("org.apache.kafka.common.metrics", "Kafka metrics (sensors)"),
            Map.entry("org.apache.kafka.streams.state.internals.Metered", "Streams stores: metered layer"),
            Map.entry("org.apache.kafka.streams.state.internals.Caching", "Streams stores: record cache"),
            Map.entry("org.apache.kafka.streams.state.internals.NamedCache", "Streams stores: record cache"),
            Map.entry("org.apache.kafka.streams.state.internals.ThreadCache", "Streams stores: record cache"),
            Map.entry("org.apache.kafka.streams.state.internals.ChangeLogging", "Streams stores: changelog"),
            Map.entry("org.apache.kafka.streams.state.internals", "Streams stores: other layers"),
            Map.entry("org.apache.kafka.streams.processor.internals.RecordCollectorImpl", "producer send (Streams)"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamsProducer", "producer send (Streams)"),
            Map.entry("org.apache.kafka.clients.producer", "producer send (Streams)"),
            Map.entry("org.apache.kafka.common.record", "record batches, compression"),
            Map.entry("org.apache.kafka.common.compress", "record batches, compression"),
            Map.entry("org.apache.kafka.clients.consumer", "consumer fetch"),
            Map.entry("org.apache.kafka.streams.processor.internals.RecordQueue", "Streams record queues"),
            Map.entry("org.apache.kafka.streams.processor.internals.PartitionGroup", "Streams record queues"),
            Map.entry("org.apache.kafka.streams.kstream.internals", "Streams DSL processors"),
            Map.entry("org.apache.kafka.streams", "Streams per-record machinery"),
            Map.entry("org.apache.kafka", "Kafka common"),
            Map.entry("net.jpountz", "record batches, compression"),
            Map.entry("com.fasterxml.jackson", "Jackson (caller not ours)"));

    /** Frames passed over to find who asked for the work: the JDK, Jackson, Kafka's utilities and serializers. */
    static final List<String> PASS_OVER = List.of("java.", "jdk.", "sun.", "com.fasterxml.jackson.",
            "org.apache.kafka.common.utils.", "org.apache.kafka.common.header.",
            "org.apache.kafka.common.serialization.", "org.apache.kafka.streams.state.internals.ValueAndTimestampSerializer",
            "org.apache.kafka.streams.state.StateSerdes", "org.apache.kafka.streams.processor.internals.SerdeGetter");

    /** The stream thread's phase, by the outermost method of these on the stack. */
    static final List<Map.Entry<String, String>> PHASE = List.of(
            Map.entry("org.apache.kafka.streams.processor.internals.TaskExecutor.commitTasksAndMaybeUpdateCommittableOffsets", "commit"),
            Map.entry("org.apache.kafka.streams.processor.internals.TaskManager.commit", "commit"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamThread.maybeCommit", "commit"),
            Map.entry("org.apache.kafka.streams.processor.internals.TaskManager.punctuate", "punctuate"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamThread.pollPhase", "poll"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamThread.pollRequests", "poll"),
            Map.entry("org.apache.kafka.streams.processor.internals.TaskManager.process", "process"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamThread.runOnceWithProcessingThreads", "other loop"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamThread.runOnceWithoutProcessingThreads", "other loop"));

    /** The step of the topology a sample is in: the innermost of these frames on its stack. */
    static final List<Map.Entry<String, String>> STEP = List.of(
            Map.entry("org.apache.kafka.streams.processor.internals.SinkNode.process", "writing to a topic (sink)"),
            Map.entry("org.apache.kafka.streams.processor.internals.RecordDeserializer", "reading a record (source)"),
            Map.entry("org.apache.kafka.streams.processor.internals.SourceNode.deserialize", "reading a record (source)"),
            Map.entry("org.apache.kafka.streams.kstream.internals.KStreamAggregate", "totals aggregate (store)"),
            Map.entry("dev.tokentap.aggregator.topology.HourlyRecords", "hourly sums (store)"),
            Map.entry("dev.tokentap.aggregator.topology.EventDeduplicator", "de-duplication (store)"),
            Map.entry("dev.tokentap.aggregator.topology.ResponseBilling", "response billing (store)"),
            Map.entry("dev.tokentap.aggregator.topology.SeriesCap", "series caps"),
            Map.entry("dev.tokentap.aggregator.topology.UsageTopology.enrich", "enrich"),
            Map.entry("dev.tokentap.aggregator.topology.UsageTopology$KeyBy", "key by labels / hour"),
            Map.entry("dev.tokentap.aggregator.topology.UsageTopology$DecodeProcessor", "decode"),
            Map.entry("org.apache.kafka.streams.processor.internals.ProcessorContextImpl.forward", "forwarding between steps"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamTask.process", "task: per-record bookkeeping"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamTask.doProcess", "task: per-record bookkeeping"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamTask.commit", "commit"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamTask.prepareCommit", "commit"),
            Map.entry("org.apache.kafka.streams.processor.internals.TaskExecutor.commit", "commit"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamThread.pollRequests", "poll"),
            Map.entry("org.apache.kafka.streams.processor.internals.StreamThread.addRecordsToTasks", "poll"),
            Map.entry("org.apache.kafka.streams.processor.internals.TaskManager.punctuate", "punctuate"));

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        Instant from = Instant.parse(args[1]);
        Instant to = Instant.parse(args[2]);
        Map<String, Integer> byThread = new HashMap<>();
        Map<String, Integer> what = new HashMap<>();
        Map<String, Integer> phase = new HashMap<>();
        Map<String, Integer> frames = new HashMap<>();
        Map<String, Integer> step = new HashMap<>();
        int total = 0;
        for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
            if (!e.getEventType().getName().equals("jdk.ExecutionSample")) {
                continue;
            }
            if (e.getStartTime().isBefore(from) || e.getStartTime().isAfter(to)) {
                continue;
            }
            var thread = e.getThread("sampledThread");
            String name = thread == null ? "?" : thread.getJavaName();
            byThread.merge(name == null ? "?" : name, 1, Integer::sum);
            if (name == null || !name.matches(".*-StreamThread-\\d+") || e.getStackTrace() == null) {
                continue;
            }
            total++;
            List<RecordedFrame> stack = e.getStackTrace().getFrames();
            String w = "JDK / other";
            for (RecordedFrame f : stack) {
                String cls = f.getMethod().getType().getName();
                String m = cls + "." + f.getMethod().getName();
                if (PASS_OVER.stream().anyMatch(m::startsWith) && f != stack.get(stack.size() - 1)) {
                    continue;
                }
                String hit = first(WHAT, m);
                if (hit != null) {
                    w = hit;
                    frames.merge(m, 1, Integer::sum);
                    break;
                }
            }
            what.merge(w, 1, Integer::sum);
            String p = "outside the loop";
            for (int i = stack.size() - 1; i >= 0; i--) {
                RecordedFrame f = stack.get(i);
                String m = f.getMethod().getType().getName() + "." + f.getMethod().getName();
                String hit = first(PHASE, m);
                if (hit != null) {
                    p = hit;
                    if (!hit.equals("other loop")) {
                        break;
                    }
                }
            }
            phase.merge(p, 1, Integer::sum);
            String st = "elsewhere";
            for (RecordedFrame f : stack) {
                String hit = first(STEP, f.getMethod().getType().getName() + "." + f.getMethod().getName());
                if (hit != null) {
                    st = hit;
                    break;
                }
            }
            step.merge(st, 1, Integer::sum);
        }
        System.out.printf("stream thread samples in the window: %d%n%n", total);
        print("phase of the stream thread's loop", phase, total, 20);
        print("step of the topology (innermost step on the stack)", step, total, 30);
        print("innermost frame of the project, Kafka or RocksDB (JDK, Jackson, serializers passed over)", what, total, 40);
        print("that frame's method", frames, total, 40);
        int all = byThread.values().stream().mapToInt(Integer::intValue).sum();
        print("samples by thread (all threads)", byThread, all, 40);
    }

    static String first(List<Map.Entry<String, String>> rules, String method) {
        for (Map.Entry<String, String> r : rules) {
            if (method.startsWith(r.getKey())) {
                return r.getValue();
            }
        }
        return null;
    }

    static void print(String title, Map<String, Integer> counts, int total, int limit) {
        System.out.println(title + ":");
        counts.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).limit(limit)
                .forEach(e -> System.out.printf("  %5.1f%%  %6d  %s%n", 100.0 * e.getValue() / total, e.getValue(),
                        e.getKey()));
        System.out.println();
    }
}
