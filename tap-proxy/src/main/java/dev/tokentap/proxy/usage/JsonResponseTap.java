package dev.tokentap.proxy.usage;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * The tap on an {@code application/json} response: reads {@code id}, {@code model}, {@code usage} and errors into
 * {@link ResponseFacts} while every byte passes on untouched and at once. One instance per response; not
 * thread-safe.
 */
public final class JsonResponseTap {

    private final UsageExtractor extractor;
    private final ResponseFacts facts;
    private boolean finished;

    public JsonResponseTap(ResponseFacts facts) {
        this.extractor = new UsageExtractor(facts);
        this.facts = facts;
    }

    /** Reads {@code input} and adds it, unchanged, to {@code output}. */
    public void transform(ByteBuffer input, boolean last, List<ByteBuffer> output) {
        int length = input.remaining();
        if (length > 0) {
            if (input.hasArray()) {
                extractor.feed(input.array(), input.arrayOffset() + input.position(), length);
            } else {
                extractor.feed(ThreadScratch.copyOf(input), 0, length);
            }
            output.add(input);
        }
        if (last && !finished) {
            finished = true;
            extractor.finish();
            facts.finalUsage();
        }
    }
}
