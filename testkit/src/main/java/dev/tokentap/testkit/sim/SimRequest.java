package dev.tokentap.testkit.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/** What the simulator needs from a completions or chat request body, validated the way vLLM validates it. */
record SimRequest(
        boolean chat,
        String model,
        boolean stream,
        boolean includeUsage,
        boolean continuousUsage,
        List<Integer> promptTokens,
        int tokensPerChoice,
        int n,
        boolean beamSearch) {

    static final String COMPLETIONS = "/v1/completions";
    static final String CHAT_COMPLETIONS = "/v1/chat/completions";

    private static final ObjectMapper MAPPER = new ObjectMapper();

    /**
     * Parses a body sent to {@code route}.
     *
     * @throws VllmError 400 for anything vLLM would refuse as a bad request
     */
    static SimRequest parse(String route, byte[] body) {
        return parse(route, body, VllmProfile.CURRENT);
    }

    /** As vLLM of {@code profile} reads it. */
    static SimRequest parse(String route, byte[] body, VllmProfile profile) {
        boolean chat = switch (route) {
            case CHAT_COMPLETIONS -> true;
            case COMPLETIONS -> false;
            default -> throw new IllegalArgumentException("not a generation route: " + route);
        };
        JsonNode root;
        try {
            root = MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            throw VllmError.badRequest("JSON decode error: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw VllmError.badRequest("JSON decode error: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw VllmError.badRequest("Input should be a valid dictionary or object to extract fields from");
        }

        String model = optionalText(root, "model");
        boolean stream = optionalBoolean(root, "stream", false);
        JsonNode options = root.path("stream_options");
        boolean hasOptions = !options.isMissingNode() && !options.isNull();
        // vLLM's validator tests the raw values' truthiness: {} passes without a stream, so does "stream": "false"
        boolean optionsTruthy = options.isObject() ? !options.isEmpty() : hasOptions;
        if (optionsTruthy && !truthy(root.path("stream"))) {
            throw VllmError.badRequest("Stream options can only be defined when `stream=True`.");
        }
        if (hasOptions && !options.isObject()) {
            throw VllmError.badRequest("stream_options: Input should be a valid dictionary");
        }
        // include_usage defaults to true once stream_options is there on legacy vLLM, to false on current vLLM
        // (PR #36379); an explicit null is falsy on both; continuous stats need it
        boolean includeUsage = hasOptions && optionalBoolean(options, "include_usage",
                profile == VllmProfile.LEGACY && !options.has("include_usage"));
        boolean continuousUsage = includeUsage && optionalBoolean(options, "continuous_usage_stats", false);

        List<Integer> promptTokens = chat ? List.of(chatPromptTokens(root)) : completionPromptTokens(root);
        Integer maxTokens = chat ? optionalInt(root, "max_completion_tokens") : null;
        if (maxTokens == null) {
            maxTokens = optionalInt(root, "max_tokens");
        }
        int tokensPerChoice = maxTokens == null ? SimTokenizer.DEFAULT_MAX_TOKENS : maxTokens;
        if (tokensPerChoice < 1) {
            throw VllmError.badRequest("max_tokens must be at least 1, got " + tokensPerChoice + ".");
        }
        Integer n = optionalInt(root, "n");
        if (n != null && n < 1) {
            throw VllmError.badRequest("n must be at least 1, got " + n + ".");
        }
        return new SimRequest(chat, model, stream, includeUsage, continuousUsage,
                List.copyOf(promptTokens), tokensPerChoice, n == null ? 1 : n,
                optionalBoolean(root, "use_beam_search", false));
    }

    /** Refuses a request whose prompt plus completion would not fit the model, as vLLM does. */
    void checkContextLength(int maxModelLen) {
        for (int prompt : promptTokens) {
            if (prompt + tokensPerChoice > maxModelLen) {
                throw VllmError.badRequest(String.format(
                        "This model's maximum context length is %d tokens. However, you requested %d tokens "
                                + "(%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
                        maxModelLen, prompt + tokensPerChoice, prompt, tokensPerChoice));
            }
        }
    }

    int choices() {
        return promptTokens.size() * n;
    }

    int totalPromptTokens() {
        return promptTokens.stream().mapToInt(Integer::intValue).sum();
    }

    /** Prompt tokens of the prompt that choice {@code index} answers (choices are grouped by prompt, n each). */
    int promptTokensOfChoice(int index) {
        return promptTokens.get(index / n);
    }

    /** Usage of the whole response; {@code cachedTokens} above 0 is reported, capped at the prompt. */
    SimUsage usage(int cachedTokens) {
        int prompt = totalPromptTokens();
        Integer cached = cachedTokens > 0 ? Math.min(cachedTokens, prompt) : null;
        return new SimUsage(prompt, tokensPerChoice * choices(), cached);
    }

    private static int chatPromptTokens(JsonNode root) {
        JsonNode messages = root.path("messages");
        if (!messages.isArray() || messages.isEmpty()) {
            throw VllmError.badRequest("messages: Field required and must be a non-empty list");
        }
        List<String> contents = new ArrayList<>();
        for (JsonNode message : messages) {
            if (!message.isObject() || !message.path("role").isTextual()) {
                throw VllmError.badRequest("messages: every message needs a string `role`");
            }
            contents.add(contentText(message.path("content")));
        }
        return SimTokenizer.chatPromptTokens(contents);
    }

    private static String contentText(JsonNode content) {
        if (content.isMissingNode() || content.isNull()) {
            return null;
        }
        if (content.isTextual()) {
            return content.asText();
        }
        if (content.isArray()) {
            StringBuilder text = new StringBuilder();
            for (JsonNode part : content) {
                if (part.path("text").isTextual()) {
                    text.append(' ').append(part.path("text").asText());
                }
            }
            return text.toString();
        }
        throw VllmError.badRequest("messages: content must be a string or a list of content parts");
    }

    private static List<Integer> completionPromptTokens(JsonNode root) {
        JsonNode prompt = root.path("prompt");
        if (prompt.isTextual()) {
            return List.of(SimTokenizer.countWords(prompt.asText()));
        }
        if (!prompt.isArray()) {
            throw VllmError.badRequest("prompt: Field required (a string, a list of strings or of token ids)");
        }
        if (prompt.isEmpty()) {
            throw VllmError.badRequest("Prompt cannot be empty");
        }
        if (allOf(prompt, JsonNode::isIntegralNumber)) {
            return List.of(prompt.size());
        }
        List<Integer> batch = new ArrayList<>();
        for (JsonNode one : prompt) {
            if (one.isTextual()) {
                batch.add(SimTokenizer.countWords(one.asText()));
            } else if (one.isArray() && !one.isEmpty() && allOf(one, JsonNode::isIntegralNumber)) {
                batch.add(one.size());
            } else {
                throw VllmError.badRequest("prompt: every entry must be a string or a non-empty list of token ids");
            }
        }
        return batch;
    }

    private static boolean allOf(JsonNode array, Predicate<JsonNode> test) {
        for (JsonNode element : array) {
            if (!test.test(element)) {
                return false;
            }
        }
        return true;
    }

    private static String optionalText(JsonNode node, String field) {
        JsonNode value = node.path(field);
        if (value.isMissingNode() || value.isNull()) {
            return null;
        }
        if (!value.isTextual()) {
            throw VllmError.badRequest(field + ": Input should be a valid string");
        }
        return value.asText();
    }

    /** Python's truthiness of a JSON value. */
    private static boolean truthy(JsonNode value) {
        if (value.isMissingNode() || value.isNull()) {
            return false;
        }
        if (value.isBoolean()) {
            return value.booleanValue();
        }
        if (value.isNumber()) {
            return value.doubleValue() != 0;
        }
        if (value.isTextual()) {
            return !value.asText().isEmpty();
        }
        return !value.isEmpty();
    }

    /** pydantic's lax boolean, as vLLM reads every flag: 1/0, and strings such as "yes", "off", "t", "0". */
    private static boolean optionalBoolean(JsonNode node, String field, boolean fallback) {
        JsonNode value = node.path(field);
        if (value.isMissingNode() || value.isNull()) {
            return fallback;
        }
        if (value.isBoolean()) {
            return value.booleanValue();
        }
        if (value.isNumber() && (value.doubleValue() == 0 || value.doubleValue() == 1)) {
            return value.doubleValue() == 1;
        }
        if (value.isTextual()) {
            switch (value.asText().strip().toLowerCase(java.util.Locale.ROOT)) {
                case "1", "on", "t", "true", "y", "yes" -> {
                    return true;
                }
                case "0", "off", "f", "false", "n", "no" -> {
                    return false;
                }
                default -> {
                    // not a boolean
                }
            }
        }
        throw VllmError.badRequest(field + ": Input should be a valid boolean");
    }

    private static Integer optionalInt(JsonNode node, String field) {
        JsonNode value = node.path(field);
        if (value.isMissingNode() || value.isNull()) {
            return null;
        }
        if (!value.isIntegralNumber() || !value.canConvertToInt()) {
            throw VllmError.badRequest(field + ": Input should be a valid integer");
        }
        return value.intValue();
    }
}
