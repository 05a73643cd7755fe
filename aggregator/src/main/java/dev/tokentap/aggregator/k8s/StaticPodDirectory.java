package dev.tokentap.aggregator.k8s;

import java.util.Map;

/** A fixed IP → pod map, whatever the time: the directory of off-cluster runs and of tests. */
public final class StaticPodDirectory implements PodDirectory {

    private final Map<String, PodIdentity> byIp;

    public StaticPodDirectory(Map<String, PodIdentity> byIp) {
        this.byIp = Map.copyOf(byIp);
    }

    @Override
    public PodIdentity lookup(String ip, long epochMillis) {
        return ip == null ? null : byIp.get(ip);
    }

    @Override
    public boolean synced() {
        return true;
    }

    @Override
    public long currentAsOf() {
        return System.currentTimeMillis();
    }
}
