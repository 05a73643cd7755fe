package dev.tokentap.aggregator.identity;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tokentap.aggregator.k8s.PodIdentity;
import dev.tokentap.event.ClientIdentity;
import dev.tokentap.event.UsageEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Decides who made a request: gathers every signal (tenant header, the caller's pod and workload, the API key's
 * alias, the address) into a {@link ClientIdentity} and names the client by the first signal present in the
 * configured precedence. Pure: the pod comes from the caller, the aliases from a map.
 */
public final class IdentityResolver {

    /** A signal a client can be named by, in the words of {@code --identity-precedence}. */
    public enum Signal {
        TENANT(ClientIdentity.SOURCE_TENANT),
        WORKLOAD(ClientIdentity.SOURCE_WORKLOAD),
        API_KEY(ClientIdentity.SOURCE_API_KEY),
        ADDRESS(ClientIdentity.SOURCE_ADDRESS);

        private final String source;

        Signal(String source) {
            this.source = source;
        }

        /** The name in {@code client_name_source} and in {@code --identity-precedence}. */
        public String source() {
            return source;
        }

        /** The signal named {@code text} ({@code tenant}, {@code workload}, {@code api_key}, {@code address}). */
        public static Signal parse(String text) {
            String wanted = text.trim().toLowerCase(Locale.ROOT).replace('-', '_');
            for (Signal s : values()) {
                if (s.source.equals(wanted)) {
                    return s;
                }
            }
            throw new IllegalArgumentException("unknown identity signal '" + text.trim()
                    + "' (expected tenant, workload, api_key, address)");
        }
    }

    /** The default precedence as {@code --identity-precedence} reads it. */
    public static final String DEFAULT_PRECEDENCE_TEXT = "workload,api_key,tenant,address";
    /**
     * The default precedence, the signal hardest to forge first: the Kubernetes workload (the pod that held the
     * source address, from the API server), then the operator's own alias for the API key (a client cannot name a
     * key it does not hold), then the tenant header (a value the proxy takes only from a trusted gateway), then the
     * address. A header thus never outranks what the cluster says about a caller; behind a gateway that names
     * tenants, either trust it for {@code X-Forwarded-For} (callers in the cluster are then named by their own
     * workload, callers outside by their tenant) or put {@code tenant} first.
     */
    public static final List<Signal> DEFAULT_PRECEDENCE = parsePrecedence(DEFAULT_PRECEDENCE_TEXT);

    /** Resolves with the default precedence and no aliases: what a process without identity settings uses. */
    public static final IdentityResolver DEFAULT = new IdentityResolver(DEFAULT_PRECEDENCE, Map.of());

    private final List<Signal> precedence;
    private final Map<String, String> apiKeyAliases;

    /**
     * @param precedence    the signals to name a client by, first present wins; the address is always the last
     *                      resort, listed or not
     * @param apiKeyAliases {@code api_key_id} → the name to give that key's client
     */
    public IdentityResolver(List<Signal> precedence, Map<String, String> apiKeyAliases) {
        List<Signal> order = new ArrayList<>(Objects.requireNonNull(precedence, "precedence"));
        if (!order.contains(Signal.ADDRESS)) {
            order.add(Signal.ADDRESS);
        }
        this.precedence = List.copyOf(order);
        this.apiKeyAliases = Map.copyOf(apiKeyAliases);
    }

    public List<Signal> precedence() {
        return precedence;
    }

    /**
     * The identity of {@code event}'s caller.
     *
     * @param pod the pod that had the event's client address at its start, or null
     */
    public ClientIdentity resolve(UsageEvent event, PodIdentity pod) {
        String alias = event.apiKeyId() == null ? null : apiKeyAliases.get(event.apiKeyId());
        String name = null;
        Signal source = Signal.ADDRESS;
        for (Signal signal : precedence) {
            name = switch (signal) {
                case TENANT -> blankToNull(event.tenant());
                case WORKLOAD -> pod == null ? null : pod.workload();
                case API_KEY -> alias;
                case ADDRESS -> blankToNull(event.clientAddress());
            };
            if (name != null) {
                source = signal;
                break;
            }
        }
        if (name == null) {
            name = ClientIdentity.UNKNOWN;
        }
        if (pod == null) {
            return new ClientIdentity(null, null, null, null, null, null, null, alias, name, source.source());
        }
        return new ClientIdentity(pod.namespace(), pod.pod(), pod.workloadKind(), pod.workload(),
                pod.serviceAccount(), pod.node(), pod.labels(), alias, name, source.source());
    }

    /** Parses {@code tenant,workload,api_key,address} (any subset, in order). */
    public static List<Signal> parsePrecedence(String text) {
        List<Signal> signals = new ArrayList<>();
        for (String part : text.split(",")) {
            if (!part.isBlank()) {
                Signal s = Signal.parse(part);
                if (signals.contains(s)) {
                    throw new IllegalArgumentException("'" + s.source() + "' listed twice");
                }
                signals.add(s);
            }
        }
        if (signals.isEmpty()) {
            throw new IllegalArgumentException("name at least one of tenant, workload, api_key, address");
        }
        return signals;
    }

    /**
     * Reads API key aliases: a JSON object {@code {"<api_key_id>": "<name>", …}}, or lines {@code <api_key_id>
     * <name>} (or {@code =} between them), blank lines and {@code #} comments ignored.
     *
     * @throws IllegalArgumentException when the file can't be read or a line is not a pair
     */
    public static Map<String, String> readAliases(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return parseAliases(text, file.toString());
    }

    static Map<String, String> parseAliases(String text, String where) {
        Map<String, String> aliases = new LinkedHashMap<>();
        if (text.strip().startsWith("{")) {
            try {
                aliases.putAll(JsonMapper.builder().build().readValue(text, new TypeReference<Map<String, String>>() {
                }));
            } catch (IOException e) {
                throw new IllegalArgumentException(where + " is not a JSON object of strings: " + e.getMessage(), e);
            }
        } else {
            String[] lines = text.split("\\R");
            for (int i = 0; i < lines.length; i++) {
                String line = lines[i].strip();
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                String[] pair = line.split("\\s*=\\s*|\\s+", 2);
                if (pair.length != 2 || pair[0].isEmpty() || pair[1].isBlank()) {
                    throw new IllegalArgumentException(where + " line " + (i + 1)
                            + ": expected '<api_key_id> <name>'");
                }
                aliases.put(pair[0], pair[1].strip());
            }
        }
        aliases.values().removeIf(String::isBlank);
        return aliases;
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
