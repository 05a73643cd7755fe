package dev.tokentap.testkit.sim;

/** A request the simulator refuses, carrying what vLLM would put in its error JSON. */
public final class VllmError extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int status;
    private final String type;
    private final String param;

    VllmError(int status, String type, String param, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
    }

    static VllmError badRequest(String message) {
        return new VllmError(400, "BadRequestError", null, message);
    }

    static VllmError modelNotFound(String model) {
        return new VllmError(404, "NotFoundError", "model", "The model `" + model + "` does not exist.");
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    /** The offending request field, or null. */
    public String param() {
        return param;
    }
}
