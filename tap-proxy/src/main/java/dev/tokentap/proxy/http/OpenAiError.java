package dev.tokentap.proxy.http;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import java.nio.charset.StandardCharsets;

/** Error bodies in OpenAI's (and vLLM's) shape, for the responses the proxy makes itself. */
final class OpenAiError {

    private OpenAiError() {
    }

    /** {@code {"error":{"message":…,"type":…,"param":null,"code":status}}} as UTF-8. */
    static byte[] body(int status, String message, String type) {
        JsonStringEncoder encoder = JsonStringEncoder.getInstance();
        String json = "{\"error\":{\"message\":\"" + new String(encoder.quoteAsString(message))
                + "\",\"type\":\"" + new String(encoder.quoteAsString(type))
                + "\",\"param\":null,\"code\":" + status + "}}";
        return json.getBytes(StandardCharsets.UTF_8);
    }

    /** The body for a status the proxy itself produces, other than a {@link Refusal}'s. */
    static byte[] forStatus(int status) {
        return switch (status) {
            case 400 -> body(status, "The request path is not valid.", "BadRequestError");
            case 502 -> body(status, "The upstream server could not be reached.", "BadGatewayError");
            case 504 -> body(status, "The upstream server did not answer in time.", "GatewayTimeoutError");
            default -> body(status, "The proxy could not complete the request.", "InternalServerError");
        };
    }
}
