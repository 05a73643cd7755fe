package dev.tokentap.testkit.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The server-sent events of one streamed response, step by step: step {@code t} carries token {@code t} of every
 * choice (step 0 also the chat role chunks), the last step also the usage chunk and {@code [DONE]}.
 *
 * <p>Events are produced on demand so a long stream costs no memory up front. Shapes follow vLLM of the
 * simulator's {@link VllmProfile}: chat chunks omit {@code usage} unless continuous usage stats were asked for;
 * legacy completions chunks carry {@code "usage":null}; current chunks carry vLLM's {@code token_ids} members and the
 * {@code system_fingerprint} (on the usage-only chunk when usage is on, on every terminal chunk otherwise).
 */
final class StreamScript {

    static final String DONE = "data: [DONE]\n\n";

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final SimRequest request;
    private final String id;
    private final long created;
    private final String model;
    private final SimUsage usage;
    private final boolean current;

    StreamScript(SimRequest request, String id, long created, String model, SimUsage usage) {
        this(request, id, created, model, usage, VllmProfile.CURRENT);
    }

    StreamScript(SimRequest request, String id, long created, String model, SimUsage usage, VllmProfile profile) {
        this.current = profile == VllmProfile.CURRENT;
        this.request = request;
        this.id = id;
        this.created = created;
        this.model = model;
        this.usage = usage;
    }

    int steps() {
        return request.tokensPerChoice();
    }

    /** The SSE frames ({@code data: …\n\n}) of step {@code step}, each to be written and flushed on its own. */
    List<String> step(int step) {
        List<String> frames = new ArrayList<>();
        if (step == 0 && request.chat()) {
            for (int choice = 0; choice < request.choices(); choice++) {
                frames.add(frame(chatRoleChunk(choice)));
            }
        }
        boolean last = step == steps() - 1;
        for (int choice = 0; choice < request.choices(); choice++) {
            frames.add(frame(request.chat() ? chatTokenChunk(choice, step, last) : completionTokenChunk(choice, step, last)));
        }
        if (last) {
            if (request.includeUsage()) {
                frames.add(frame(usageChunk()));
            }
            frames.add(DONE);
        }
        return frames;
    }

    /** vLLM's error event in a stream that already answered 200 ({@code create_streaming_error_response}). */
    String errorEvent(boolean legacy) {
        return frame(VllmResponses.error(new VllmError(500, "InternalServerError", null,
                "The engine failed while generating"), legacy));
    }

    private ObjectNode chatRoleChunk(int choice) {
        ObjectNode chunk = VllmResponses.header(id, "chat.completion.chunk", created, model);
        ObjectNode entry = chunk.putArray("choices").addObject();
        entry.put("index", choice);
        entry.putObject("delta").put("role", "assistant").put("content", "");
        entry.putNull("logprobs");
        entry.putNull("finish_reason");
        if (request.continuousUsage()) {
            chunk.set("usage", VllmResponses.usage(request.promptTokensOfChoice(choice), 0));
        }
        if (current) {
            // passed to the role chunk explicitly, so set, so written
            chunk.putNull("prompt_token_ids");
            chunk.putNull("prompt_text");
        }
        return chunk;
    }

    private ObjectNode chatTokenChunk(int choice, int step, boolean last) {
        ObjectNode chunk = VllmResponses.header(id, "chat.completion.chunk", created, model);
        ObjectNode entry = chunk.putArray("choices").addObject();
        entry.put("index", choice);
        entry.putObject("delta").put("content", SimTokenizer.token(step));
        entry.putNull("logprobs");
        if (last) {
            entry.put("finish_reason", "length");
            entry.putNull("stop_reason");
        } else {
            entry.putNull("finish_reason");
        }
        if (current) {
            entry.putNull("token_ids");
        }
        if (request.continuousUsage()) {
            // like vLLM: cumulative per choice, the prompt being the one this choice answers
            chunk.set("usage", VllmResponses.usage(request.promptTokensOfChoice(choice), step + 1));
        }
        terminalFingerprint(chunk, last);
        return chunk;
    }

    private ObjectNode completionTokenChunk(int choice, int step, boolean last) {
        ObjectNode chunk = VllmResponses.header(id, "text_completion", created, model);
        ObjectNode entry = chunk.putArray("choices").addObject();
        entry.put("index", choice);
        entry.put("text", SimTokenizer.token(step));
        entry.putNull("logprobs");
        if (last) {
            entry.put("finish_reason", "length");
        } else {
            entry.putNull("finish_reason");
        }
        entry.putNull("stop_reason");
        if (current) {
            // current vLLM writes completions chunks with exclude_unset: only what it set, these two included
            entry.putNull("prompt_token_ids");
            entry.putNull("token_ids");
            if (request.continuousUsage()) {
                chunk.set("usage", VllmResponses.usage(request.promptTokensOfChoice(choice), step + 1));
            }
            terminalFingerprint(chunk, last);
        } else if (request.continuousUsage()) {
            // legacy vLLM writes completions chunks with every field (exclude_unset=False): the details show as null
            chunk.set("usage", VllmResponses.usage(request.promptTokensOfChoice(choice), step + 1)
                    .putNull("prompt_tokens_details"));
        } else {
            chunk.putNull("usage");
        }
        return chunk;
    }

    /** Current vLLM puts the fingerprint on terminal chunks only when the stream has no usage chunk to carry it. */
    private void terminalFingerprint(ObjectNode chunk, boolean last) {
        if (current && last && !request.includeUsage()) {
            chunk.put("system_fingerprint", VllmProfile.FINGERPRINT);
        }
    }

    private ObjectNode usageChunk() {
        ObjectNode chunk = VllmResponses.header(id, request.chat() ? "chat.completion.chunk" : "text_completion", created, model);
        chunk.putArray("choices");
        chunk.set("usage", VllmResponses.usage(usage, false));
        if (current) {
            chunk.put("system_fingerprint", VllmProfile.FINGERPRINT);
        }
        return chunk;
    }

    private static String frame(ObjectNode chunk) {
        try {
            return "data: " + MAPPER.writeValueAsString(chunk) + "\n\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a chunk", e);
        }
    }
}
