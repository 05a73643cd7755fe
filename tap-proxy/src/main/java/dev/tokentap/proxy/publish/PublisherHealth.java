package dev.tokentap.proxy.publish;

/**
 * What a publisher says of itself, for {@code /readyz} and the degraded gauge: whether it works as it should and,
 * when it does not, what is wrong. A degraded publisher still takes events.
 *
 * @param degraded whether part of it is failing
 * @param problem  what is failing, for people; null when nothing is
 */
public record PublisherHealth(boolean degraded, String problem) {

    public static final PublisherHealth HEALTHY = new PublisherHealth(false, null);

    public static PublisherHealth degraded(String problem) {
        return new PublisherHealth(true, problem);
    }
}
