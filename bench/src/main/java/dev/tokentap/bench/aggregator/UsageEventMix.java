package dev.tokentap.bench.aggregator;

import com.fasterxml.uuid.Generators;
import com.fasterxml.uuid.impl.TimeBasedEpochGenerator;
import dev.tokentap.event.Outcome;
import dev.tokentap.event.Routes;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageSource;
import java.util.HexFormat;
import java.util.Random;

/**
 * Usage events as a small fleet produces them: two dozen client addresses, each with its own chat model, some
 * also calling the legacy completions route, the Responses API or an embedding model, through two proxies; mostly
 * successful requests with long-tailed token counts, plus the errors, aborts and timeouts a real log holds. Seeded,
 * so a run can be repeated; every event has a fresh time-ordered {@code event_id}, as the proxy gives it.
 *
 * <p>No event carries a tenant, so the aggregator names every client by its address: all events of one label set
 * then share their record key (the address), hence one partition, and are counted in the order they were sent.
 * The lag measurement relies on that.
 */
final class UsageEventMix {

    static final int CLIENTS = 24;

    private static final String[] CHAT_MODELS = {
            "meta-llama/Llama-3.1-8B-Instruct",
            "Qwen/Qwen2.5-32B-Instruct",
            "mistralai/Mistral-Small-3.1-24B-Instruct-2503"};
    private static final String EMBEDDING_MODEL = "BAAI/bge-m3";
    private static final String[] PROXY_HOSTS = {"vllm-7d9f8c6b5-2xkqp", "vllm-7d9f8c6b5-h8w4n"};
    private static final String UPSTREAM = "127.0.0.1:8000";

    /** What one client calls. */
    private record Client(String address, String chatModel, String apiKeyId, String user, boolean completions,
                          boolean responses, boolean embeddings) {
    }

    private final Random random;
    private final TimeBasedEpochGenerator eventIds = Generators.timeBasedEpochGenerator();
    private final Client[] clients = new Client[CLIENTS];

    UsageEventMix(long seed) {
        random = new Random(seed);
        HexFormat hex = HexFormat.of();
        for (int i = 0; i < CLIENTS; i++) {
            byte[] key = new byte[32];
            random.nextBytes(key);
            clients[i] = new Client("10.42." + (1 + i / 8) + "." + (11 + (i * 37) % 230),
                    CHAT_MODELS[i % CHAT_MODELS.length],
                    i % 2 == 0 ? hex.formatHex(key) : null,
                    i % 3 == 0 ? "svc-" + i : null,
                    i % 4 == 1, i % 6 == 2, i % 3 == 2);
        }
    }

    /** The next event, of a request that ended at {@code endedAtMillis}. */
    UsageEvent next(long endedAtMillis) {
        Client client = clients[random.nextInt(CLIENTS)];
        int pick = random.nextInt(100);
        String route;
        String model = client.chatModel;
        if (client.embeddings && pick < 20) {
            route = Routes.EMBEDDINGS;
            model = EMBEDDING_MODEL;
        } else if (client.completions && pick >= 85) {
            route = Routes.COMPLETIONS;
        } else if (client.responses && pick >= 80) {
            route = Routes.RESPONSES;
        } else {
            route = Routes.CHAT_COMPLETIONS;
        }
        boolean embeddings = route.equals(Routes.EMBEDDINGS);
        boolean stream = !embeddings && random.nextInt(10) < 7;

        int fate = random.nextInt(100);
        String outcome;
        int status;
        if (fate < 94) {
            outcome = Outcome.OK;
            status = 200;
        } else if (fate < 97) {
            outcome = Outcome.UPSTREAM_ERROR;
            status = 400;
        } else if (fate < 99 && stream) {
            outcome = Outcome.CLIENT_ABORTED;
            status = 200;
        } else {
            outcome = Outcome.UPSTREAM_TIMEOUT;
            status = 504;
        }

        UsageEvent.Builder event = UsageEvent.builder()
                .eventId(eventIds.generate().toString())
                .requestId(Long.toHexString(random.nextLong()) + Long.toHexString(random.nextLong()))
                .method("POST")
                .route(route)
                .status(status)
                .outcome(outcome)
                .model(model)
                .stream(stream)
                .clientAddress(client.address)
                .apiKeyId(client.apiKeyId)
                .user(client.user)
                .proxyHost(PROXY_HOSTS[random.nextInt(PROXY_HOSTS.length)])
                .upstream(UPSTREAM);

        long firstByteMillis = 30 + random.nextInt(400);
        long durationMillis = firstByteMillis;
        if (outcome.equals(Outcome.OK) || outcome.equals(Outcome.CLIENT_ABORTED)) {
            // long-tailed prompts (median about 400 tokens) and answers (median about 150)
            long prompt = Math.min(32_000, 1 + Math.round(Math.exp(6 + random.nextGaussian())));
            long completion = embeddings ? 0 : Math.min(4_096, 1 + Math.round(Math.exp(5 + random.nextGaussian())));
            if (outcome.equals(Outcome.CLIENT_ABORTED)) {
                completion = completion / 2;
            }
            durationMillis += completion * 12;
            event.responseId(idPrefix(route) + Long.toHexString(random.nextLong()))
                    .responseModel(model)
                    .promptTokens(prompt)
                    .completionTokens(completion)
                    .completionTokensReported(!embeddings)
                    .usageSource(outcome.equals(Outcome.OK) ? UsageSource.REPORTED : UsageSource.PARTIAL);
            // vLLM leaves total_tokens out of some answers; the aggregator then counts prompt + completion
            if (random.nextInt(10) > 0) {
                event.totalTokens(prompt + completion);
            }
            if (!embeddings && prompt > 256 && random.nextInt(10) < 3) {
                event.cachedTokens((long) (random.nextInt((int) prompt / 16) * 16));
            }
        } else if (outcome.equals(Outcome.UPSTREAM_TIMEOUT)) {
            durationMillis = 60_000;
        }
        event.startedAt(endedAtMillis - durationMillis)
                .firstByteAt(outcome.equals(Outcome.UPSTREAM_TIMEOUT) ? null : endedAtMillis - durationMillis
                        + firstByteMillis)
                .endedAt(endedAtMillis);
        return event.build();
    }

    private static String idPrefix(String route) {
        return switch (route) {
            case Routes.CHAT_COMPLETIONS -> "chatcmpl-";
            case Routes.COMPLETIONS -> "cmpl-";
            case Routes.RESPONSES -> "resp_";
            default -> "embd-";
        };
    }
}
