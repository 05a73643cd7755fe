# Build from the repository root after ./mvnw -B package:
#   docker build -f deploy/images/tap-proxy.Dockerfile -t tokentap/tap-proxy:0.1.0 .
FROM eclipse-temurin:17-jre
COPY tap-proxy/target/tap-proxy.jar /opt/tokentap/tap-proxy.jar
# the disk spool must be writable by the unprivileged user; mount a volume here to keep it across restarts
RUN mkdir -p /var/spool/tokentap && chown 65532:65532 /var/spool/tokentap
ENV TOKENTAP_SPOOL_DIR=/var/spool/tokentap
# two malloc arenas instead of up to eight per core: native memory outside the heap stays small and bounded
ENV MALLOC_ARENA_MAX=2
USER 65532:65532
EXPOSE 3000 3001
# The JVM options are those tokentap bench measures the proxy with (dev.tokentap.bench.JvmOptions, explained in
# docs/benchmarks.md): a small capped heap, the serial collector, bounds on the rest of the resident set, and
# freed native memory handed back to the system every second.
ENTRYPOINT ["java", "-Xms32m", "-Xmx96m", "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=96m", "-XX:ReservedCodeCacheSize=64m", "-XX:MaxDirectMemorySize=64m", "-Xss512k", "-XX:TrimNativeHeapInterval=1000", "-XX:+ExitOnOutOfMemoryError", "-jar", "/opt/tokentap/tap-proxy.jar"]
