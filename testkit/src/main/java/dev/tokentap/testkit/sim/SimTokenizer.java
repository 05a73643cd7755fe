package dev.tokentap.testkit.sim;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The simulator's deterministic token rule, public so tests can work out expected usage without a server.
 *
 * <ul>
 *   <li>A text is as many tokens as it has whitespace-separated words.</li>
 *   <li>Completions: each prompt string counts its words; a prompt of token ids counts its ids. A list of
 *       strings (or of id lists) is a batch of prompts: prompt_tokens is their sum.</li>
 *   <li>Chat: every message costs {@value #TOKENS_PER_MESSAGE} tokens plus the words of its content
 *       (a string, or the {@code text} of its content parts).</li>
 *   <li>Each choice generates {@code max_tokens} tokens ({@code max_completion_tokens}, then {@code max_tokens},
 *       for chat), {@value #DEFAULT_MAX_TOKENS} if none is given, and always finishes with {@code "length"}.
 *       completion_tokens = per-choice tokens × n × number of prompts, as vLLM sums over choices.</li>
 *   <li>Token {@code i} of a choice is the text {@code " tok<i>"}, so the generated text is {@code " tok0 tok1 …"}.</li>
 * </ul>
 */
public final class SimTokenizer {

    public static final int TOKENS_PER_MESSAGE = 4;
    public static final int DEFAULT_MAX_TOKENS = 16;

    private SimTokenizer() {
    }

    /** Whitespace-separated words in {@code text}; 0 for null or blank. */
    public static int countWords(String text) {
        if (text == null) {
            return 0;
        }
        int words = 0;
        boolean inWord = false;
        for (int i = 0; i < text.length(); i++) {
            boolean space = Character.isWhitespace(text.charAt(i));
            if (!space && !inWord) {
                words++;
            }
            inWord = !space;
        }
        return words;
    }

    /** Prompt tokens of a chat request whose messages have these contents (null for a message without content). */
    public static int chatPromptTokens(List<String> messageContents) {
        int tokens = 0;
        for (String content : messageContents) {
            tokens += TOKENS_PER_MESSAGE + countWords(content);
        }
        return tokens;
    }

    /** The text of token {@code index} (0-based) of a choice. */
    public static String token(int index) {
        return " tok" + index;
    }

    /** The whole text of a choice that generated {@code tokens} tokens. */
    public static String text(int tokens) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < tokens; i++) {
            text.append(token(i));
        }
        return text.toString();
    }

    /**
     * The usage the simulator reports for this request body sent to {@code route}
     * ({@code /v1/completions} or {@code /v1/chat/completions}), without cached tokens.
     *
     * @throws VllmError if the simulator would refuse the request
     */
    public static SimUsage usageFor(String route, String requestJson) {
        return SimRequest.parse(route, requestJson.getBytes(StandardCharsets.UTF_8)).usage(0);
    }
}
