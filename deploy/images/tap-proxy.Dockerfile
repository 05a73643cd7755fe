# Build from the repository root after ./mvnw -B package:
#   docker build -f deploy/images/tap-proxy.Dockerfile -t tokentap/tap-proxy:0.1.0 .
FROM eclipse-temurin:17-jre
COPY tap-proxy/target/tap-proxy.jar /opt/tokentap/tap-proxy.jar
USER 65532:65532
EXPOSE 3000 3001
ENTRYPOINT ["java", "-jar", "/opt/tokentap/tap-proxy.jar"]
