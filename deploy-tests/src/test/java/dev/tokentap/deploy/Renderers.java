package dev.tokentap.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Renders deploy/ the two ways a user installs it: {@code kubectl kustomize} and Helm (run from the JVM). */
final class Renderers {

    /** The Kubernetes version the chart is rendered for; kubectl here is 1.32 too. */
    static final String KUBE_VERSION = "1.32.0";
    static final String NAMESPACE = "tokentap";

    private Renderers() {
    }

    /** {@code kubectl kustomize DIR}; kubectl 1.27 or later (its kustomize reads the labels field). */
    static List<JsonNode> kustomize(Path dir) {
        try {
            // errors to a file, so that neither pipe can fill up while the other is read
            Path errors = Files.createTempFile("kustomize-", ".err");
            Process process = new ProcessBuilder("kubectl", "kustomize", dir.toString())
                    .redirectError(errors.toFile()).start();
            byte[] out = process.getInputStream().readAllBytes();
            boolean exited = process.waitFor(60, TimeUnit.SECONDS);
            String err = Files.readString(errors);
            Files.delete(errors);
            if (!exited || process.exitValue() != 0) {
                throw new IllegalStateException("kubectl kustomize " + dir + " failed: " + err);
            }
            return Manifests.parse(new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("kubectl is needed to render the kustomize tree (.ci/run checks for it): "
                    + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static Path chart() {
        return Manifests.deployDir().resolve("helm/tokentap");
    }

    static LintResult lint() {
        return new Helm(chart()).lint().strict().call();
    }

    /** {@code helm template tokentap deploy/helm/tokentap -n tokentap} with the chart's defaults. */
    static List<JsonNode> helmTemplate() {
        return helmTemplate(new String[0]);
    }

    /** The same with {@code --set key=value} pairs. */
    static List<JsonNode> helmTemplate(String... keyValues) {
        var template = new Helm(chart()).template().withKubeVersion(KUBE_VERSION).withName("tokentap")
                .withNamespace(NAMESPACE);
        for (int i = 0; i < keyValues.length; i += 2) {
            template = template.set(keyValues[i], keyValues[i + 1]);
        }
        return Manifests.parse(template.call());
    }
}
