package dev.tokentap.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.Javalin;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * An upstream on a local port that answers as vLLM answered in a golden fixture: the request names its fixture in
 * {@link #FIXTURE_HEADER}; a body equal (as vLLM reads JSON: the last of repeated names counts) to the fixture's
 * {@code metered_request} gets vLLM's answer to that, {@code metered_response}, and a body equal to the client's
 * {@code request} gets {@code response}. Anything else is a 599 and is remembered: the proxy sent vLLM a request the
 * fixture does not know. Streams go out an event at a time, each flushed, as vLLM writes them.
 */
final class VllmReplay implements AutoCloseable {

    static final String FIXTURE_HEADER = "X-Fixture";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, VllmFixtures.Fixture> fixtures = new ConcurrentHashMap<>();
    private final List<String> unexpected = new CopyOnWriteArrayList<>();
    private final Javalin app;

    VllmReplay() {
        VllmFixtures.all().forEach(f -> fixtures.put(f.toString(), f));
        app = Javalin.create(config -> {
            config.jetty.host = "127.0.0.1";
            config.jetty.port = 0;
            config.startup.showJavalinBanner = false;
            config.routes.post("/*", this::answer);
        }).start();
    }

    String baseUrl() {
        return "http://127.0.0.1:" + app.port();
    }

    /** What reached the upstream that no fixture sends vLLM, since the last call. */
    List<String> takeUnexpected() {
        List<String> taken = List.copyOf(unexpected);
        unexpected.removeAll(taken);
        return taken;
    }

    private void answer(Context ctx) throws IOException {
        VllmFixtures.Fixture fixture = fixtures.get(String.valueOf(ctx.header(FIXTURE_HEADER)));
        if (fixture == null) {
            unexpected.add("no fixture " + ctx.header(FIXTURE_HEADER));
            ctx.status(599);
            return;
        }
        JsonNode body = JSON.readTree(ctx.bodyAsBytes());
        byte[] answer;
        if (fixture.metered() && body.equals(JSON.readTree(fixture.file("metered_request")))) {
            answer = fixture.file("metered_response");
        } else if (body.equals(JSON.readTree(fixture.file("request")))) {
            answer = fixture.file("response");
        } else {
            unexpected.add(fixture + " got " + body);
            ctx.status(599);
            return;
        }
        ctx.status(fixture.entry().get("status").asInt());
        String contentType = fixture.entry().get("response_content_type").asText();
        ctx.res().setContentType(contentType);
        if (!contentType.startsWith("text/event-stream")) {
            ctx.result(answer);
            return;
        }
        OutputStream out = ctx.res().getOutputStream();
        int from = 0;
        for (int i = 0; i + 1 < answer.length; i++) {
            if (answer[i] == '\n' && answer[i + 1] == '\n') {
                out.write(answer, from, i + 2 - from);
                out.flush();
                from = i + 2;
            }
        }
        out.write(answer, from, answer.length - from);
        out.flush();
    }

    @Override
    public void close() {
        app.stop();
    }
}
