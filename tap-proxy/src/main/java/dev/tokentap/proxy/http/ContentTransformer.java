package dev.tokentap.proxy.http;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * What a body passes through on its way: the request rewriter or form reader on the request, the usage tap on the
 * answer, each given the body piece by piece and adding to {@code output} what goes on (the input itself, slices of
 * it, or buffers of its own).
 */
@FunctionalInterface
interface ContentTransformer {

    /** Passes every piece on unchanged. */
    ContentTransformer IDENTITY = (input, finished, output) -> output.add(input);

    /**
     * @param input    the next piece of the body (may be empty)
     * @param finished whether it is the last
     * @param output   where what goes on is added
     */
    void transform(ByteBuffer input, boolean finished, List<ByteBuffer> output) throws IOException;
}
