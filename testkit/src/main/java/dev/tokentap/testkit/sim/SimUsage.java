package dev.tokentap.testkit.sim;

/** Token usage as the simulator reports it for one response; {@code cachedTokens} is null unless configured. */
public record SimUsage(int promptTokens, int completionTokens, Integer cachedTokens) {

    public int totalTokens() {
        return promptTokens + completionTokens;
    }
}
