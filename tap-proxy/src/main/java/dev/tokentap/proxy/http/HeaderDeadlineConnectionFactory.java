package dev.tokentap.proxy.http;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.http.HttpCompliance;
import org.eclipse.jetty.http.HttpParser;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.CyclicTimeout;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.thread.Scheduler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP/1.1 connections that must deliver each request's line and headers within a deadline. Jetty 12 bounds only
 * the silence between bytes (the idle timeout), so a client trickling a header byte now and then could hold a
 * connection and a parser buffer for ever; this closes it instead.
 *
 * <p>The clock of a connection's first request starts when it is accepted: a client that connects and says nothing
 * is as suspect as one that says too little. The clock of a later request starts with its first byte, so a
 * keep-alive connection waiting quietly between requests is left to the idle timeout, as nginx and Go do it.
 */
final class HeaderDeadlineConnectionFactory extends HttpConnectionFactory {

    private static final Logger LOG = LoggerFactory.getLogger(HeaderDeadlineConnectionFactory.class);

    private final long deadlineNanos;

    HeaderDeadlineConnectionFactory(HttpConfiguration configuration, Duration deadline) {
        super(configuration);
        this.deadlineNanos = deadline.toNanos();
    }

    @Override
    public Connection newConnection(Connector connector, EndPoint endPoint) {
        DeadlineConnection connection = new DeadlineConnection(getHttpConfiguration(), connector, endPoint,
                connector.getScheduler(), deadlineNanos);
        connection.setTransferEncodingChunkMaxLength(getTransferEncodingChunkMaxLength());
        return configure(connection, connector, endPoint);
    }

    private static final class DeadlineConnection extends HttpConnection {
        /** A request head is being read against the deadline. */
        private volatile boolean armed;
        /**
         * Re-armed per request without touching the scheduler: a new deadline later than the pending wake-up keeps
         * that wake-up, which re-schedules itself for what is left when it fires. A timer scheduled and cancelled
         * per request woke the scheduler's thread once a request, for a deadline that almost never passes.
         */
        private final CyclicTimeout deadline;
        private final long deadlineNanos;

        DeadlineConnection(HttpConfiguration configuration, Connector connector, EndPoint endPoint,
                           Scheduler scheduler, long deadlineNanos) {
            super(configuration, connector, endPoint);
            this.deadlineNanos = deadlineNanos;
            this.deadline = new CyclicTimeout(scheduler) {
                @Override
                public void onTimeoutExpired() {
                    if (armed) {
                        expired();
                    }
                }
            };
        }

        @Override
        protected HttpParser newHttpParser(HttpCompliance compliance) {
            // the connection's own request handler, which it also reads from elsewhere, drives the parser
            HttpParser.RequestHandler handler = (HttpParser.RequestHandler) super.newHttpParser(compliance)
                    .getHandler();
            HttpParser parser = new HttpParser(handler, getHttpConfiguration().getRequestHeaderSize(), compliance) {
                @Override
                public boolean parseNext(ByteBuffer buffer) {
                    if (!armed && buffer.hasRemaining() && isState(State.START)) {
                        arm();
                    }
                    boolean handled = super.parseNext(buffer);
                    if (armed && getState().ordinal() > State.HEADER.ordinal()) {
                        disarm();
                    }
                    return handled;
                }
            };
            parser.setHeaderCacheSize(getHttpConfiguration().getHeaderCacheSize());
            parser.setHeaderCacheCaseSensitive(getHttpConfiguration().isHeaderCacheCaseSensitive());
            return parser;
        }

        @Override
        public void onOpen() {
            // before the connection asks for bytes: once it has, another thread may already be parsing them, and
            // a timer armed after that parse disarmed its own would outlive the head it was meant for
            arm();
            super.onOpen();
        }

        @Override
        public void onClose(Throwable cause) {
            disarm();
            deadline.destroy();
            super.onClose(cause);
        }

        private synchronized void arm() {
            armed = true;
            deadline.schedule(deadlineNanos, TimeUnit.NANOSECONDS);
        }

        private synchronized void disarm() {
            armed = false;
            deadline.cancel();
        }

        private void expired() {
            // no response has started on this connection for the request being read: closing it loses nothing
            LOG.debug("closing a connection whose request head took too long remote={}",
                    getEndPoint().getRemoteSocketAddress());
            getEndPoint().close(new TimeoutException("request head not received within the header timeout"));
        }
    }
}
