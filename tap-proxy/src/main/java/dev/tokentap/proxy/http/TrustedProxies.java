package dev.tokentap.proxy.http;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The peers whose {@code X-Forwarded-For} is believed ({@code --trusted-proxies}): the client address is the
 * right-most address of the chain (the TCP peer last) that is not a trusted proxy. Without trusted proxies, the
 * header is ignored and the TCP peer is the client.
 */
public final class TrustedProxies {

    /** Literal addresses only: a host name here would make every request wait for DNS. */
    private static final Pattern LITERAL = Pattern.compile("[0-9.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*");

    public static final TrustedProxies NONE = new TrustedProxies(List.of());

    private final List<Cidr> ranges;

    private TrustedProxies(List<Cidr> ranges) {
        this.ranges = ranges;
    }

    /**
     * Reads {@code 10.0.0.0/8, 192.168.1.7, fd00::/8}.
     *
     * @throws IllegalArgumentException naming the first entry that is not an address or a CIDR range
     */
    public static TrustedProxies parse(String list) {
        if (list == null || list.isBlank() || "none".equalsIgnoreCase(list.strip())) {
            return NONE;
        }
        List<Cidr> ranges = new ArrayList<>();
        for (String entry : list.split(",")) {
            String e = entry.strip();
            if (e.isEmpty()) {
                continue;
            }
            int slash = e.indexOf('/');
            byte[] address = literal(slash < 0 ? e : e.substring(0, slash));
            int bits = address == null ? -1 : address.length * 8;
            int prefix = bits;
            if (address != null && slash >= 0) {
                try {
                    prefix = Integer.parseInt(e.substring(slash + 1));
                } catch (NumberFormatException x) {
                    prefix = -1;
                }
            }
            if (address == null || prefix < 0 || prefix > bits) {
                throw new IllegalArgumentException("not an IP address or CIDR range: '" + e + "'");
            }
            ranges.add(new Cidr(address, prefix));
        }
        return new TrustedProxies(List.copyOf(ranges));
    }

    public boolean isEmpty() {
        return ranges.isEmpty();
    }

    /** Whether {@code address} (a literal IP, brackets allowed) is a trusted proxy. */
    public boolean trusts(String address) {
        byte[] bytes = address == null ? null : literal(address);
        if (bytes == null) {
            return false;
        }
        for (Cidr range : ranges) {
            if (range.contains(bytes)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The client's address, given the TCP peer and the {@code X-Forwarded-For} values in the order received.
     * Walks the chain from the right while each hop is trusted; an entry that is not an IP address ends the walk
     * at the hop that named it.
     */
    public String clientAddress(String peer, List<String> forwardedFor) {
        if (ranges.isEmpty() || !trusts(peer) || forwardedFor == null || forwardedFor.isEmpty()) {
            return peer;
        }
        List<String> chain = new ArrayList<>();
        for (String value : forwardedFor) {
            for (String hop : value.split(",")) {
                if (!hop.isBlank()) {
                    chain.add(hop.strip());
                }
            }
        }
        String client = peer;
        for (int i = chain.size() - 1; i >= 0; i--) {
            String hop = unbracket(chain.get(i));
            if (literal(hop) == null) {
                return client;
            }
            client = hop;
            if (!trusts(hop)) {
                return hop;
            }
        }
        return client;
    }

    private static String unbracket(String address) {
        String a = address;
        if (a.length() > 2 && a.charAt(0) == '[' && a.charAt(a.length() - 1) == ']') {
            a = a.substring(1, a.length() - 1);
        }
        return a;
    }

    private static byte[] literal(String address) {
        String a = unbracket(address.strip()).toLowerCase(Locale.ROOT);
        int zone = a.indexOf('%');
        if (zone >= 0) {
            a = a.substring(0, zone);
        }
        if (a.isEmpty() || !LITERAL.matcher(a).matches()) {
            return null;
        }
        try {
            // the pattern admits literals only, so this never asks DNS; ::ffff:a.b.c.d comes back as IPv4
            return InetAddress.getByName(a).getAddress();
        } catch (UnknownHostException e) {
            return null;
        }
    }

    private record Cidr(byte[] network, int prefix) {
        boolean contains(byte[] address) {
            if (address.length != network.length) {
                return false;
            }
            int full = prefix / 8;
            for (int i = 0; i < full; i++) {
                if (address[i] != network[i]) {
                    return false;
                }
            }
            int rest = prefix % 8;
            if (rest == 0) {
                return true;
            }
            int mask = 0xff << (8 - rest) & 0xff;
            return (address[full] & mask) == (network[full] & mask);
        }
    }

    @Override
    public String toString() {
        return ranges.stream().map(r -> {
            try {
                return InetAddress.getByAddress(r.network()).getHostAddress() + "/" + r.prefix();
            } catch (UnknownHostException e) {
                return "?";
            }
        }).toList().toString();
    }
}
