# Build from the repository root after ./mvnw -B package:
#   docker build -f deploy/images/tap-proxy.Dockerfile -t tokentap/tap-proxy:0.1.0 .
FROM eclipse-temurin:17-jre
COPY tap-proxy/target/tap-proxy.jar /opt/tokentap/tap-proxy.jar
# the disk spool must be writable by the unprivileged user; mount a volume here to keep it across restarts
RUN mkdir -p /var/spool/tokentap && chown 65532:65532 /var/spool/tokentap
ENV TOKENTAP_SPOOL_DIR=/var/spool/tokentap
# two malloc arenas instead of up to eight per core: native memory outside the heap stays small and bounded
ENV MALLOC_ARENA_MAX=2
# A class data sharing archive of the classes the proxy loads to serve, so that a new proxy maps them at start
# instead of reading and verifying them from the jar (docs/benchmarks.md, "Warm-up"): a training run pushes a few
# hundred requests of every metered kind through a real proxy in front of a canned upstream (Kafka unreachable, its
# events spooled to a temporary directory) and the JVM writes what it loaded on exit. An application archive is
# laid over the JDK's own, which is made first if this runtime has none; the build fails if no archive came out.
RUN { [ -f "$JAVA_HOME/lib/server/classes.jsa" ] || java -Xshare:dump; } \
    && java -Xms32m -Xmx96m -XX:+UseSerialGC -XX:MaxMetaspaceSize=96m -XX:ReservedCodeCacheSize=64m \
        -XX:MaxDirectMemorySize=64m -Xss512k -XX:TrimNativeHeapInterval=1000 -XX:+ExitOnOutOfMemoryError \
        -XX:ArchiveClassesAtExit=/opt/tokentap/tap-proxy.jsa -cp /opt/tokentap/tap-proxy.jar dev.tokentap.proxy.TapProxyTraining \
    && test -s /opt/tokentap/tap-proxy.jsa
USER 65532:65532
EXPOSE 3000 3001
# The JVM options are those tokentap bench measures the proxy with (dev.tokentap.bench.JvmOptions, explained in
# docs/benchmarks.md): a small capped heap, the serial collector, bounds on the rest of the resident set, freed
# native memory handed back to the system every second, and the archive above. The archive is checked against
# the jar and the JVM at start; should it not match, the JVM says so once and starts without it.
ENTRYPOINT ["java", "-Xms32m", "-Xmx96m", "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=96m", "-XX:ReservedCodeCacheSize=64m", "-XX:MaxDirectMemorySize=64m", "-Xss512k", "-XX:TrimNativeHeapInterval=1000", "-XX:+ExitOnOutOfMemoryError", "-XX:SharedArchiveFile=/opt/tokentap/tap-proxy.jsa", "-jar", "/opt/tokentap/tap-proxy.jar"]
