package dev.tokentap.testkit.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The simulator's answers on vLLM's routes besides completions and chat: the Responses API, pooling models
 * (embeddings, pooling, classify, score, rerank), audio, and the small administrative routes. Field order and
 * usage shapes follow vLLM's: pooling routes report {@code completion_tokens} 0 (rerank only {@code total_tokens}),
 * the Responses API {@code input_tokens}/{@code output_tokens} with details, audio a {@code duration} in seconds.
 * Token counts come from {@link SimTokenizer}, so tests can predict them.
 */
final class OtherRoutes {

    static final String RESPONSES = "/v1/responses";
    /** Audio bytes per second the simulator assumes: 16 kHz, 16-bit mono. */
    static final int AUDIO_BYTES_PER_SECOND = 32_000;

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private OtherRoutes() {
    }

    static JsonNode parse(byte[] body) {
        try {
            JsonNode root = MAPPER.readTree(body);
            if (root == null || !root.isObject()) {
                throw VllmError.badRequest("Input should be a valid dictionary or object to extract fields from");
            }
            return root;
        } catch (JsonProcessingException e) {
            throw VllmError.badRequest("JSON decode error: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw VllmError.badRequest("JSON decode error: " + e.getMessage());
        }
    }

    /** Tokens of a string, a list of strings, or a list of token ids. */
    static int tokens(JsonNode input) {
        if (input.isTextual()) {
            return SimTokenizer.countWords(input.asText());
        }
        if (input.isArray()) {
            if (!input.isEmpty() && input.get(0).isIntegralNumber()) {
                return input.size();
            }
            int sum = 0;
            for (JsonNode one : input) {
                sum += tokens(one);
            }
            return sum;
        }
        throw VllmError.badRequest("input: a string or a list of strings or of token ids is required");
    }

    private static int count(JsonNode input) {
        return input.isArray() && !(input.size() > 0 && input.get(0).isIntegralNumber()) ? input.size() : 1;
    }

    private static ObjectNode usage(int promptTokens) {
        ObjectNode usage = VllmResponses.usage(promptTokens, 0);
        usage.putNull("prompt_tokens_details");
        return usage;
    }

    static ObjectNode embeddings(JsonNode request, String id, long created, String model) {
        JsonNode input = request.path("input");
        ObjectNode body = listHeader("embd-" + id, created, model);
        ArrayNode data = body.putArray("data");
        for (int i = 0; i < count(input); i++) {
            ObjectNode item = data.addObject();
            item.put("index", i);
            item.put("object", "embedding");
            item.putArray("embedding").add(0.125).add(-0.25).add(0.5);
        }
        body.set("usage", usage(tokens(input)));
        return body;
    }

    static ObjectNode pooling(JsonNode request, String id, long created, String model) {
        JsonNode input = request.path("input");
        ObjectNode body = listHeader("pool-" + id, created, model);
        ArrayNode data = body.putArray("data");
        for (int i = 0; i < count(input); i++) {
            ObjectNode item = data.addObject();
            item.put("index", i);
            item.put("object", "pooling");
            item.putArray("data").add(0.5).add(0.25);
        }
        body.set("usage", usage(tokens(input)));
        return body;
    }

    static ObjectNode classify(JsonNode request, String id, long created, String model) {
        JsonNode input = request.path("input");
        ObjectNode body = listHeader("classify-" + id, created, model);
        ArrayNode data = body.putArray("data");
        for (int i = 0; i < count(input); i++) {
            ObjectNode item = data.addObject();
            item.put("index", i);
            item.put("label", "positive");
            item.putArray("probs").add(0.25).add(0.75);
            item.put("num_classes", 2);
        }
        body.set("usage", usage(tokens(input)));
        return body;
    }

    static ObjectNode score(JsonNode request, String id, long created, String model) {
        JsonNode first = request.has("text_1") ? request.path("text_1") : request.path("queries");
        JsonNode second = request.has("text_2") ? request.path("text_2") : request.path("items");
        if (first.isMissingNode() || second.isMissingNode()) {
            throw VllmError.badRequest("text_1 and text_2 are required");
        }
        int pairs = Math.max(count(first), count(second));
        ObjectNode body = listHeader("score-" + id, created, model);
        ArrayNode data = body.putArray("data");
        for (int i = 0; i < pairs; i++) {
            ObjectNode item = data.addObject();
            item.put("index", i);
            item.put("object", "score");
            item.put("score", 0.875);
        }
        // every pair is one prompt: the first text's tokens with each second text
        int firstTokens = tokens(first) * (count(first) == 1 ? pairs : 1);
        body.set("usage", usage(firstTokens + tokens(second)));
        return body;
    }

    static ObjectNode rerank(JsonNode request, String id, String model) {
        JsonNode query = request.path("query");
        JsonNode documents = request.path("documents");
        if (!query.isTextual() || !documents.isArray()) {
            throw VllmError.badRequest("query (a string) and documents (a list) are required");
        }
        ObjectNode body = JSON.objectNode();
        body.put("id", "rerank-" + id);
        body.put("model", model);
        ObjectNode usage = body.putObject("usage");
        usage.put("total_tokens", tokens(query) * documents.size() + tokens(documents));
        ArrayNode results = body.putArray("results");
        for (int i = 0; i < documents.size(); i++) {
            ObjectNode result = results.addObject();
            result.put("index", i);
            result.putObject("document").put("text", documents.get(i).asText());
            result.put("relevance_score", 1.0 / (i + 2));
        }
        return body;
    }

    /** The Responses API's response object; {@code completed} false gives the in-progress shape with no usage. */
    static ObjectNode response(String id, long createdAt, String model, int inputTokens, int outputTokens,
                               int cachedTokens, boolean completed) {
        ObjectNode body = JSON.objectNode();
        body.put("id", id);
        body.put("created_at", createdAt);
        body.putNull("incomplete_details");
        body.putNull("instructions");
        body.putNull("metadata");
        body.put("model", model);
        body.put("object", "response");
        ArrayNode output = body.putArray("output");
        if (completed) {
            ObjectNode message = output.addObject();
            message.put("id", "msg_" + id.substring("resp_".length()));
            ArrayNode content = message.putArray("content");
            ObjectNode text = content.addObject();
            text.putArray("annotations");
            text.put("text", SimTokenizer.text(outputTokens));
            text.put("type", "output_text");
            text.putNull("logprobs");
            message.put("role", "assistant");
            message.put("status", "completed");
            message.put("type", "message");
        }
        body.put("parallel_tool_calls", true);
        body.put("temperature", 1.0);
        body.put("tool_choice", "auto");
        body.putArray("tools");
        body.put("top_p", 1.0);
        body.put("background", false);
        body.put("max_output_tokens", outputTokens);
        body.putNull("previous_response_id");
        body.put("status", completed ? "completed" : "in_progress");
        if (completed) {
            ObjectNode usage = body.putObject("usage");
            usage.put("input_tokens", inputTokens);
            usage.putObject("input_tokens_details").put("cached_tokens", cachedTokens);
            usage.put("output_tokens", outputTokens);
            usage.putObject("output_tokens_details").put("reasoning_tokens", 0);
            usage.put("total_tokens", inputTokens + outputTokens);
        } else {
            body.putNull("usage");
        }
        body.putNull("user");
        return body;
    }

    /** Input tokens of a Responses API request: a string, or a list of messages. */
    static int responseInputTokens(JsonNode request) {
        JsonNode input = request.path("input");
        if (input.isTextual()) {
            return SimTokenizer.chatPromptTokens(List.of(input.asText()));
        }
        if (input.isArray()) {
            List<String> contents = new ArrayList<>();
            for (JsonNode message : input) {
                contents.add(message.path("content").asText(""));
            }
            return SimTokenizer.chatPromptTokens(contents);
        }
        throw VllmError.badRequest("input: Field required");
    }

    /** The SSE events of a streamed Responses API answer: created, one delta per token, completed; no [DONE]. */
    static List<String> responseEvents(String id, long createdAt, String model, int inputTokens, int outputTokens,
                                       int cachedTokens) {
        List<String> events = new ArrayList<>();
        int sequence = 0;
        ObjectNode created = JSON.objectNode();
        created.set("response", response(id, createdAt, model, inputTokens, outputTokens, cachedTokens, false));
        created.put("sequence_number", sequence++);
        created.put("type", "response.created");
        events.add(event("response.created", created));
        for (int t = 0; t < outputTokens; t++) {
            ObjectNode delta = JSON.objectNode();
            delta.put("content_index", 0);
            delta.put("delta", SimTokenizer.token(t));
            delta.put("item_id", "msg_" + id.substring("resp_".length()));
            delta.put("output_index", 0);
            delta.put("sequence_number", sequence++);
            delta.put("type", "response.output_text.delta");
            delta.putArray("logprobs");
            events.add(event("response.output_text.delta", delta));
        }
        ObjectNode completed = JSON.objectNode();
        completed.set("response", response(id, createdAt, model, inputTokens, outputTokens, cachedTokens, true));
        completed.put("sequence_number", sequence);
        completed.put("type", "response.completed");
        events.add(event("response.completed", completed));
        return events;
    }

    /** A transcription or translation: the text, and the audio's length as usage. */
    static ObjectNode transcription(long audioBytes) {
        ObjectNode body = JSON.objectNode();
        body.put("text", SimTokenizer.text(4));
        ObjectNode usage = body.putObject("usage");
        usage.put("type", "duration");
        usage.put("seconds", audioSeconds(audioBytes));
        return body;
    }

    /** The streamed chunks of a transcription, with the usage chunk when asked ({@code stream_include_usage}). */
    static List<String> transcriptionChunks(String id, long created, String model, long audioBytes,
                                            boolean includeUsage) {
        List<String> events = new ArrayList<>();
        int tokens = 4;
        for (int t = 0; t < tokens; t++) {
            ObjectNode chunk = VllmResponses.header(id, "transcription.chunk", created, model);
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.putObject("delta").put("content", SimTokenizer.token(t));
            if (t == tokens - 1) {
                choice.put("finish_reason", "stop");
            } else {
                choice.putNull("finish_reason");
            }
            choice.putNull("stop_reason");
            events.add(data(chunk));
        }
        if (includeUsage) {
            ObjectNode chunk = VllmResponses.header(id, "transcription.chunk", created, model);
            chunk.putArray("choices");
            int prompt = (int) Math.max(1, Math.round(audioSeconds(audioBytes)));
            chunk.set("usage", VllmResponses.usage(prompt, tokens));
            events.add(data(chunk));
        }
        events.add(StreamScript.DONE);
        return events;
    }

    static double audioSeconds(long audioBytes) {
        return Math.round(audioBytes * 100.0 / AUDIO_BYTES_PER_SECOND) / 100.0;
    }

    /** Which route {@code /invocations} hands a body to, by its shape, as vLLM does. */
    static String invocationRoute(JsonNode request) {
        if (request.has("messages")) {
            return SimRequest.CHAT_COMPLETIONS;
        }
        if (request.has("prompt")) {
            return SimRequest.COMPLETIONS;
        }
        if (request.has("query") && request.has("documents")) {
            return "/rerank";
        }
        if (request.has("text_1") || request.has("queries")) {
            return "/score";
        }
        if (request.has("input")) {
            return "/v1/embeddings";
        }
        throw VllmError.badRequest("Cannot find a suitable handler for the request body");
    }

    static ObjectNode tokenize(JsonNode request, int maxModelLen) {
        JsonNode prompt = request.has("prompt") ? request.path("prompt") : request.path("messages");
        int count = prompt.isTextual() ? SimTokenizer.countWords(prompt.asText()) : prompt.size() * 4;
        ObjectNode body = JSON.objectNode();
        body.put("count", count);
        body.put("max_model_len", maxModelLen);
        ArrayNode tokens = body.putArray("tokens");
        for (int i = 0; i < count; i++) {
            tokens.add(1000 + i);
        }
        body.putNull("token_strs");
        return body;
    }

    static ObjectNode detokenize(JsonNode request) {
        ObjectNode body = JSON.objectNode();
        body.put("prompt", SimTokenizer.text(request.path("tokens").size()));
        return body;
    }

    private static ObjectNode listHeader(String id, long created, String model) {
        ObjectNode node = JSON.objectNode();
        node.put("id", id);
        node.put("object", "list");
        node.put("created", created);
        node.put("model", model);
        return node;
    }

    private static String event(String type, ObjectNode data) {
        return "event: " + type + "\n" + data(data);
    }

    private static String data(ObjectNode node) {
        try {
            return "data: " + MAPPER.writeValueAsString(node) + "\n\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise an event", e);
        }
    }

    /**
     * The parts of a {@code multipart/form-data} body by name. The simulator records every request body before
     * routing, so the servlet's own multipart reader can no longer see it: this reads the recorded bytes.
     */
    static java.util.Map<String, byte[]> multipart(String contentType, byte[] body) {
        java.util.Map<String, byte[]> parts = new java.util.LinkedHashMap<>();
        String type = contentType == null ? "" : contentType;
        int at = type.toLowerCase(Locale.ROOT).indexOf("boundary=");
        if (!type.toLowerCase(Locale.ROOT).startsWith("multipart/form-data") || at < 0) {
            throw VllmError.badRequest("a multipart/form-data body is required");
        }
        String boundary = type.substring(at + "boundary=".length()).split(";")[0].strip().replace("\"", "");
        byte[] delimiter = ("--" + boundary).getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        int position = indexOf(body, delimiter, 0);
        while (position >= 0) {
            int headersStart = position + delimiter.length;
            if (headersStart + 1 < body.length && body[headersStart] == '-' && body[headersStart + 1] == '-') {
                break;
            }
            int headersEnd = indexOf(body, "\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1),
                    headersStart);
            int next = indexOf(body, delimiter, headersEnd < 0 ? body.length : headersEnd);
            if (headersEnd < 0 || next < 0) {
                throw VllmError.badRequest("malformed multipart body");
            }
            String headers = new String(body, headersStart, headersEnd - headersStart,
                    java.nio.charset.StandardCharsets.ISO_8859_1);
            java.util.regex.Matcher name = java.util.regex.Pattern.compile("name=\"([^\"]*)\"").matcher(headers);
            if (name.find()) {
                int contentEnd = next - 2; // the CRLF before the delimiter
                parts.put(name.group(1), java.util.Arrays.copyOfRange(body, headersEnd + 4,
                        Math.max(headersEnd + 4, contentEnd)));
            }
            position = next;
        }
        return parts;
    }

    private static int indexOf(byte[] haystack, byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
