package dev.tokentap.proxy.http;

import java.io.IOException;

/** A request body passed {@code --max-request-bytes} as it was read: answered 413. */
final class BodyTooLarge extends IOException {

    BodyTooLarge(long limit) {
        super("request body larger than " + limit + " bytes", null);
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
        return this;
    }
}
