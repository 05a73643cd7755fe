package dev.tokentap.testkit.sim;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * vLLM's JSON bodies, field for field and in vLLM's field order: model list, non-streaming responses, errors.
 * The streamed chunks live in {@link StreamScript}.
 */
final class VllmResponses {

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private VllmResponses() {
    }

    static ObjectNode models(List<String> models, long created, int maxModelLen) {
        ObjectNode list = JSON.objectNode();
        list.put("object", "list");
        ArrayNode data = list.putArray("data");
        for (String model : models) {
            ObjectNode card = data.addObject();
            card.put("id", model);
            card.put("object", "model");
            card.put("created", created);
            card.put("owned_by", "vllm");
            card.put("root", model);
            card.putNull("parent");
            card.put("max_model_len", maxModelLen);
            ObjectNode permission = card.putArray("permission").addObject();
            // stable per model, so that a listing can be compared byte for byte
            permission.put("id", "modelperm-" + String.format("%08x", model.hashCode()));
            permission.put("object", "model_permission");
            permission.put("created", created);
            permission.put("allow_create_engine", false);
            permission.put("allow_sampling", true);
            permission.put("allow_logprobs", true);
            permission.put("allow_search_indices", false);
            permission.put("allow_view", true);
            permission.put("allow_fine_tuning", false);
            permission.put("organization", "*");
            permission.putNull("group");
            permission.put("is_blocking", false);
        }
        return list;
    }

    static ObjectNode chatCompletion(SimRequest request, String id, long created, String model, SimUsage usage) {
        ObjectNode response = header(id, "chat.completion", created, model);
        ArrayNode choices = response.putArray("choices");
        String text = SimTokenizer.text(request.tokensPerChoice());
        for (int index = 0; index < request.choices(); index++) {
            ObjectNode choice = choices.addObject();
            choice.put("index", index);
            ObjectNode message = choice.putObject("message");
            message.put("role", "assistant");
            message.put("content", text);
            message.putNull("refusal");
            message.putNull("annotations");
            message.putNull("audio");
            message.putNull("function_call");
            message.putArray("tool_calls");
            message.putNull("reasoning_content");
            choice.putNull("logprobs");
            choice.put("finish_reason", "length");
            choice.putNull("stop_reason");
        }
        response.putNull("service_tier");
        response.putNull("system_fingerprint");
        response.set("usage", usage(usage, true));
        response.putNull("prompt_logprobs");
        response.putNull("kv_transfer_params");
        return response;
    }

    static ObjectNode completion(SimRequest request, String id, long created, String model, SimUsage usage) {
        ObjectNode response = header(id, "text_completion", created, model);
        ArrayNode choices = response.putArray("choices");
        String text = SimTokenizer.text(request.tokensPerChoice());
        for (int index = 0; index < request.choices(); index++) {
            ObjectNode choice = choices.addObject();
            choice.put("index", index);
            choice.put("text", text);
            choice.putNull("logprobs");
            choice.put("finish_reason", "length");
            choice.putNull("stop_reason");
            choice.putNull("prompt_logprobs");
        }
        response.set("usage", usage(usage, true));
        response.putNull("kv_transfer_params");
        return response;
    }

    /** vLLM's error body: nested {@code {"error":{…}}} (vLLM ≥ 0.10.1) or the older flat one. */
    static ObjectNode error(VllmError error, boolean legacy) {
        ObjectNode body = JSON.objectNode();
        ObjectNode fields = legacy ? body : body.putObject("error");
        if (legacy) {
            fields.put("object", "error");
        }
        fields.put("message", error.getMessage());
        fields.put("type", error.type());
        if (error.param() == null) {
            fields.putNull("param");
        } else {
            fields.put("param", error.param());
        }
        fields.put("code", error.status());
        return body;
    }

    static ObjectNode header(String id, String object, long created, String model) {
        ObjectNode node = JSON.objectNode();
        node.put("id", id);
        node.put("object", object);
        node.put("created", created);
        node.put("model", model);
        return node;
    }

    /**
     * A usage object. Non-streaming responses always carry {@code prompt_tokens_details} (null when unknown);
     * streamed chunks, which vLLM serialises without unset or null fields, carry it only when there is one.
     */
    static ObjectNode usage(SimUsage usage, boolean nullDetails) {
        ObjectNode node = usage(usage.promptTokens(), usage.completionTokens());
        if (usage.cachedTokens() != null) {
            node.putObject("prompt_tokens_details").put("cached_tokens", usage.cachedTokens());
        } else if (nullDetails) {
            node.putNull("prompt_tokens_details");
        }
        return node;
    }

    /** {@code {"object":"result","usage":{…}}}: the answer of the simulator's stand-in for an unknown route. */
    static ObjectNode usageOnly(int promptTokens) {
        ObjectNode node = JSON.objectNode();
        node.put("object", "result");
        node.set("usage", usage(promptTokens, 0));
        return node;
    }

    static ObjectNode usage(int promptTokens, int completionTokens) {
        ObjectNode node = JSON.objectNode();
        node.put("prompt_tokens", promptTokens);
        node.put("total_tokens", promptTokens + completionTokens);
        node.put("completion_tokens", completionTokens);
        return node;
    }
}
