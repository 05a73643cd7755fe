# Build from the repository root after ./mvnw -B package:
#   docker build -f deploy/images/aggregator.Dockerfile -t tokentap/aggregator:0.1.0 .
FROM eclipse-temurin:17-jre
COPY aggregator/target/aggregator.jar /opt/tokentap/aggregator.jar
USER 65532:65532
EXPOSE 9400
ENTRYPOINT ["java", "-jar", "/opt/tokentap/aggregator.jar"]
