package dev.tokentap.proxy.publish;

import dev.tokentap.event.CloudEventHeaders;
import dev.tokentap.event.UsageEvent;
import dev.tokentap.event.UsageEventCodec;
import java.io.OutputStream;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

/**
 * How a {@link UsageRecord} is kept in a spool record, so that the sender hands the producer the bytes the writer
 * encoded, without reading the event again.
 *
 * <p>A record of this format is {@code [1][key length:int, -1 for none][key][header count:byte]}, then for each
 * header {@code [name length:short][name][value length:int, -1 for none][value]}, then the value to the record's
 * end. A record written by the release before this format is the event's JSON alone (its first byte is
 * {@code '{'}): it is read by decoding the event and making its record as that release did when it sent it, so a
 * spool left by that release is delivered as it would have been.
 *
 * <p>Not thread-safe: the spool's writer and its sender each have their own. What each keeps between records (the
 * bytes of header names; the headers of the last record read, which the next one shares where they are the same)
 * only saves work.
 */
final class SpoolRecordFormat {

    /** The first byte of a record in this format. */
    static final byte VERSION = 1;
    /** The first byte of a record of the release before it: the event's JSON object. */
    private static final byte JSON_OBJECT = '{';
    private static final int MAX_NAMES = 64;

    private final UsageEventCodec codec;
    // the writer's
    private final Map<String, byte[]> names = new HashMap<>();
    private final RecordBytes out = new RecordBytes();
    // the reader's: the last record's headers and their names' bytes
    private Header[] lastHeaders = new Header[0];
    private byte[][] lastNames = new byte[0][];

    SpoolRecordFormat(UsageEventCodec codec) {
        this.codec = codec;
    }

    /**
     * The spool record of {@code event}: its Kafka record, encoded once, as {@link UsageRecord#of} makes it; the
     * JSON is written straight after the key and headers.
     */
    byte[] encode(UsageEvent event) {
        out.reset();
        out.write(VERSION);
        String key = event.clientAddress();
        out.putBytes(key == null ? null : key.getBytes(StandardCharsets.UTF_8));
        Header[] headers = CloudEventHeaders.of(event);
        out.write(headers.length);
        for (Header header : headers) {
            byte[] name = name(header.key());
            out.putShort(name.length);
            out.write(name, 0, name.length);
            out.putBytes(header.value());
        }
        codec.encode(event, out);
        return out.toByteArray();
    }

    /**
     * The record in {@code length} bytes of {@code buffer} from {@code offset}; the bytes are copied out, the
     * buffer is the caller's again once this returns.
     *
     * @throws IllegalArgumentException when the bytes are neither format, or cut short
     * @throws dev.tokentap.event.UsageEventDecodeException when a record of the release before is not an event
     */
    UsageRecord decode(byte[] buffer, int offset, int length) {
        if (length == 0) {
            throw new IllegalArgumentException("empty spool record");
        }
        byte first = buffer[offset];
        if (first == JSON_OBJECT) {
            byte[] json = Arrays.copyOfRange(buffer, offset, offset + length);
            UsageEvent event = codec.decode(json);
            // the value as that release spooled it, which is what its encoder made of this event
            String key = event.clientAddress();
            return new UsageRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
                    CloudEventHeaders.of(event), json);
        }
        if (first != VERSION) {
            throw new IllegalArgumentException("spool record of an unknown format " + first);
        }
        try {
            ByteBuffer in = ByteBuffer.wrap(buffer, offset + 1, length - 1);
            byte[] key = getBytes(in);
            int count = in.get() & 0xff;
            Header[] headers = new Header[count];
            for (int i = 0; i < count; i++) {
                headers[i] = header(i, in, buffer);
            }
            lastHeaders = headers;
            byte[] value = new byte[in.remaining()];
            in.get(value);
            return new UsageRecord(key, headers, value);
        } catch (BufferUnderflowException | IndexOutOfBoundsException | IllegalArgumentException e) {
            // what was kept of the last record may be half replaced: start again from nothing
            lastHeaders = new Header[0];
            lastNames = new byte[0][];
            throw new IllegalArgumentException("spool record cut short", e);
        }
    }

    /** Header {@code index} of the record being read: the last record's own where name and value are the same. */
    private Header header(int index, ByteBuffer in, byte[] buffer) {
        int nameLength = in.getShort() & 0xffff;
        int nameAt = in.position();
        in.position(nameAt + nameLength);
        int valueLength = in.getInt();
        int valueAt = in.position();
        if (valueLength > in.remaining()) {
            throw new BufferUnderflowException();
        }
        in.position(valueAt + Math.max(0, valueLength));
        if (index >= lastNames.length) {
            lastNames = Arrays.copyOf(lastNames, index + 1);
        }
        byte[] lastName = lastNames[index];
        Header last = index < lastHeaders.length ? lastHeaders[index] : null;
        String name;
        if (last != null && lastName != null
                && Arrays.equals(lastName, 0, lastName.length, buffer, nameAt, nameAt + nameLength)) {
            if (same(last.value(), buffer, valueAt, valueLength)) {
                return last;
            }
            name = last.key();
        } else {
            byte[] nameBytes = Arrays.copyOfRange(buffer, nameAt, nameAt + nameLength);
            lastNames[index] = nameBytes;
            name = new String(nameBytes, StandardCharsets.UTF_8);
        }
        byte[] value = valueLength < 0 ? null : Arrays.copyOfRange(buffer, valueAt, valueAt + valueLength);
        return new RecordHeader(name, value);
    }

    private static boolean same(byte[] value, byte[] buffer, int at, int length) {
        if (value == null || length < 0) {
            return value == null && length < 0;
        }
        return Arrays.equals(value, 0, value.length, buffer, at, at + length);
    }

    private byte[] name(String name) {
        byte[] bytes = names.get(name);
        if (bytes == null) {
            if (names.size() >= MAX_NAMES) {
                names.clear();
            }
            bytes = name.getBytes(StandardCharsets.UTF_8);
            names.put(name, bytes);
        }
        return bytes;
    }

    /** A growing buffer, emptied for each record and kept by the writer. */
    private static final class RecordBytes extends OutputStream {
        private byte[] bytes = new byte[4096];
        private int size;

        void reset() {
            size = 0;
            if (bytes.length > 64 * 1024) {
                // one unusually large event does not keep its buffer
                bytes = new byte[4096];
            }
        }

        @Override
        public void write(int b) {
            room(1);
            bytes[size++] = (byte) b;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            room(len);
            System.arraycopy(b, off, bytes, size, len);
            size += len;
        }

        void putShort(int value) {
            write(value >>> 8);
            write(value);
        }

        void putInt(int value) {
            room(4);
            bytes[size++] = (byte) (value >>> 24);
            bytes[size++] = (byte) (value >>> 16);
            bytes[size++] = (byte) (value >>> 8);
            bytes[size++] = (byte) value;
        }

        void putBytes(byte[] value) {
            if (value == null) {
                putInt(-1);
            } else {
                putInt(value.length);
                write(value, 0, value.length);
            }
        }

        byte[] toByteArray() {
            return Arrays.copyOf(bytes, size);
        }

        private void room(int more) {
            if (size + more > bytes.length) {
                bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, size + more));
            }
        }
    }

    private static byte[] getBytes(ByteBuffer in) {
        int length = in.getInt();
        if (length < 0) {
            return null;
        }
        if (length > in.remaining()) {
            throw new BufferUnderflowException();
        }
        byte[] bytes = new byte[length];
        in.get(bytes);
        return bytes;
    }
}
