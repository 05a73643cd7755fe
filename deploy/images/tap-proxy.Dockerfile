# Build from the repository root after ./mvnw -B package:
#   docker build -f deploy/images/tap-proxy.Dockerfile -t tokentap/tap-proxy:0.1.0 .
FROM eclipse-temurin:17-jre
COPY tap-proxy/target/tap-proxy.jar /opt/tokentap/tap-proxy.jar
# the disk spool must be writable by the unprivileged user; mount a volume here to keep it across restarts
RUN mkdir -p /var/spool/tokentap && chown 65532:65532 /var/spool/tokentap
ENV TOKENTAP_SPOOL_DIR=/var/spool/tokentap
USER 65532:65532
EXPOSE 3000 3001
ENTRYPOINT ["java", "-jar", "/opt/tokentap/tap-proxy.jar"]
