package dev.tokentap.proxy.publish;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An append-only log of byte records on local disk, in segment files, read and deleted oldest first. Three threads
 * share it, each with its own part: one appends ({@link #append}, {@link #roll}, {@link #abandonActive}); one
 * forces appended bytes to the device ({@link #force}); one reads ({@link #oldest}, {@link #read}) and deletes
 * ({@link #delete}). A segment's state is changed by this class alone.
 *
 * <p>Each record is {@code [length:int][crc32c:int][bytes]}. An append is one write of whole records, and a reader
 * reads an open segment only up to the end of the last append that completed, so it never sees half a record. A
 * write that completed is in the kernel's page cache: it survives the process being killed, and reaches the device
 * at the next {@link #force}. A torn record can only be at the end of a segment left by a process that died, or by
 * a machine that lost power: reading such a segment stops at the first record whose length is impossible, whose
 * bytes are missing or whose checksum does not match, and says how much it skipped.
 *
 * <p>A lock file keeps a second process off the same directory.
 */
final class DiskSpool implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DiskSpool.class);
    static final String SUFFIX = ".spool";
    static final int HEADER = 8;
    /** No usage event comes near this; a bigger length can only be a damaged header. */
    static final int MAX_RECORD = 1 << 20;

    private final Path dir;
    private final long maxBytes;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final ConcurrentLinkedDeque<Segment> segments = new ConcurrentLinkedDeque<>();
    private final AtomicLong bytes = new AtomicLong();
    /** Channels of segments the appender is done with, for {@link #force} to force and close. */
    private final Queue<FileChannel> retired = new ConcurrentLinkedQueue<>();
    // the appender's
    private long nextSequence;
    private Segment active;
    private ByteBuffer frame = ByteBuffer.allocate(64 * 1024);
    private volatile FileChannel activeChannel;
    /** Bytes appended since the spool opened; {@link #force} compares it with what it forced last. */
    private volatile long appended;
    private final CRC32C appendCrc = new CRC32C();
    // the forcing thread's
    private long forced;
    // the reader's: the segment it reads, kept open, and a window of its bytes
    private Segment readSegment;
    private FileChannel readChannel;
    private byte[] window = new byte[64 * 1024];
    private long windowStart;
    private int windowLength;
    private final CRC32C readCrc = new CRC32C();

    /** A segment file; {@code written} is how far a reader may read, {@code sealed} once nothing more is added. */
    static final class Segment {
        final Path path;
        final boolean inherited;
        private volatile long written;
        private volatile boolean sealed;

        private Segment(Path path, boolean inherited, long size) {
            this.path = path;
            this.inherited = inherited;
            this.written = size;
            this.sealed = inherited;
        }

        /** The end of the last whole record appended. */
        long written() {
            return written;
        }

        /** Whether nothing more will be appended to it. */
        boolean sealed() {
            return sealed;
        }
    }

    /**
     * What a {@link #read} got to.
     *
     * @param position the position after the last whole, intact record read
     * @param damaged  whether a damaged record stopped the read there: nothing after it can be trusted
     */
    record Read(long position, boolean damaged) {
    }

    /** Opens (creating if need be) the spool in {@code dir}; segments left there by an earlier process come first. */
    DiskSpool(Path dir, long maxBytes) {
        this.dir = dir;
        this.maxBytes = maxBytes;
        try {
            Files.createDirectories(dir);
            lockChannel = FileChannel.open(dir.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = lockChannel.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                lockChannel.close();
                throw new IllegalStateException("spool directory " + dir.toAbsolutePath()
                        + " is in use by another tap-proxy; give each its own --spool-dir");
            }
            lock = l;
            List<Path> left;
            try (Stream<Path> files = Files.list(dir)) {
                left = files.filter(p -> p.getFileName().toString().endsWith(SUFFIX)).sorted().toList();
            }
            for (Path p : left) {
                long size = Files.size(p);
                segments.add(new Segment(p, true, size));
                bytes.addAndGet(size);
                nextSequence = Math.max(nextSequence, sequenceOf(p) + 1);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open spool directory " + dir.toAbsolutePath(), e);
        }
    }

    private static long sequenceOf(Path p) {
        String name = p.getFileName().toString();
        try {
            return Long.parseLong(name.substring(0, name.length() - SUFFIX.length()));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Bytes on disk in all segments. */
    long bytes() {
        return bytes.get();
    }

    /** Segments left by an earlier process, and how many bytes they hold. */
    long inheritedBytes() {
        return segments.stream().filter(s -> s.inherited).mapToLong(s -> s.written).sum();
    }

    /**
     * Appends {@code records} to the open segment in one write, skipping each record that would take the spool past
     * its cap; returns how many were appended. Once it returns, the records are in the file and a reader sees them.
     * When the write fails part-way, nothing of it counts: {@link #abandonActive} cuts the segment back.
     */
    int append(List<byte[]> records) throws IOException {
        frame.clear();
        long room = maxBytes - bytes.get();
        int appended = 0;
        for (byte[] record : records) {
            int size = HEADER + record.length;
            if (size > room) {
                continue;
            }
            if (frame.remaining() < size) {
                frame = grown(frame, size);
            }
            appendCrc.reset();
            appendCrc.update(record);
            frame.putInt(record.length).putInt((int) appendCrc.getValue()).put(record);
            room -= size;
            appended++;
        }
        frame.flip();
        if (!frame.hasRemaining()) {
            return 0;
        }
        long size = frame.remaining();
        FileChannel channel = activeChannel;
        if (active == null) {
            Path path = dir.resolve(String.format("%020d%s", nextSequence++, SUFFIX));
            channel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            active = new Segment(path, false, 0);
            activeChannel = channel;
            segments.add(active);
        }
        while (frame.hasRemaining()) {
            channel.write(frame);
        }
        bytes.addAndGet(size);
        active.written += size;
        this.appended += size;
        return appended;
    }

    private static ByteBuffer grown(ByteBuffer frame, int needed) {
        ByteBuffer bigger = ByteBuffer.allocate(Math.max(frame.capacity() * 2, frame.position() + needed));
        frame.flip();
        return bigger.put(frame);
    }

    /**
     * Forces to the device what was appended: the segments the appender is done with (then closed), and the open
     * one if anything was appended since the last force. Called from a thread of its own, so that the appender never
     * waits for the device; a segment closed meanwhile by the appender is skipped.
     */
    void force() throws IOException {
        for (FileChannel channel = retired.peek(); channel != null; channel = retired.peek()) {
            try {
                channel.force(false);
            } catch (ClosedChannelException e) {
                // closed by release(): a halt
            }
            channel.close();
            retired.remove();
        }
        long target = appended;
        FileChannel channel = activeChannel;
        if (channel != null && target != forced) {
            try {
                channel.force(false);
            } catch (ClosedChannelException e) {
                // rolled or abandoned meanwhile: it is in the retired queue, forced on the next call
                return;
            }
        }
        forced = target;
    }

    /** Seals the open segment, so that the reader can finish it and delete it; the next append opens one. */
    void roll() {
        if (active != null) {
            FileChannel channel = activeChannel;
            active.sealed = true;
            active = null;
            activeChannel = null;
            retired.add(channel);
        }
    }

    /** Whether the open segment holds anything. */
    boolean activeHasRecords() {
        return active != null && active.written > 0;
    }

    /** The oldest segment not yet deleted, or null. */
    Segment oldest() {
        return segments.peekFirst();
    }

    /** Takes one record read from the spool: {@code length} bytes of {@code buffer} from {@code offset}. */
    @FunctionalInterface
    interface RecordConsumer {
        /** The bytes are the spool's again once this returns: copy what is kept. */
        void accept(byte[] buffer, int offset, int length);
    }

    /**
     * Reads the records of {@code segment} from byte {@code from} up to the end of its last append, giving each to
     * {@code records}. A damaged record ends the read, and the segment with it. The file is read many records at a
     * time, and stays open for the next read of the same segment.
     */
    Read read(Segment segment, long from, RecordConsumer records) throws IOException {
        long end = segment.written;
        if (from >= end) {
            return new Read(from, false);
        }
        try {
            return read(readChannel(segment), segment, from, end, records);
        } catch (IOException e) {
            // opened again at the next read
            closeReadChannel();
            throw e;
        }
    }

    private Read read(FileChannel channel, Segment segment, long from, long end, RecordConsumer records)
            throws IOException {
        windowStart = from;
        windowLength = 0;
        long position = from;
        while (position < end) {
            if (end - position < HEADER || !fill(channel, position, HEADER, end)) {
                return damaged(segment, position, end, "truncated header");
            }
            int at = (int) (position - windowStart);
            int length = getInt(window, at);
            int checksum = getInt(window, at + 4);
            if (length < 0 || length > MAX_RECORD || position + HEADER + length > end) {
                return damaged(segment, position, end, "bad length " + length);
            }
            if (!fill(channel, position, HEADER + length, end)) {
                return damaged(segment, position, end, "truncated record");
            }
            at = (int) (position - windowStart);
            readCrc.reset();
            readCrc.update(window, at + HEADER, length);
            if ((int) readCrc.getValue() != checksum) {
                return damaged(segment, position, end, "checksum mismatch");
            }
            records.accept(window, at + HEADER, length);
            position += HEADER + length;
        }
        return new Read(position, false);
    }

    /** The reader's channel on {@code segment}, opened once per segment. */
    private FileChannel readChannel(Segment segment) throws IOException {
        if (readSegment != segment || readChannel == null || !readChannel.isOpen()) {
            closeReadChannel();
            readChannel = FileChannel.open(segment.path, StandardOpenOption.READ);
            readSegment = segment;
        }
        return readChannel;
    }

    private void closeReadChannel() {
        FileChannel channel = readChannel;
        readChannel = null;
        readSegment = null;
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                LOG.debug("closing a spool segment read failed message=\"{}\"", e.getMessage());
            }
        }
    }

    /**
     * Makes the window hold the file's bytes {@code [position, position + needed)}, reading as much more of the
     * file (up to {@code end}) as fits at once; false when the file ends first.
     */
    private boolean fill(FileChannel channel, long position, int needed, long end) throws IOException {
        int at = (int) (position - windowStart);
        if (at + needed <= windowLength) {
            return true;
        }
        if (needed > window.length) {
            window = Arrays.copyOf(window, Math.max(needed, window.length * 2));
        }
        if (at + needed > window.length) {
            // the record runs past the window's end: move what is left of the window to its start
            System.arraycopy(window, at, window, 0, windowLength - at);
            windowLength -= at;
            windowStart = position;
            at = 0;
        }
        ByteBuffer into = ByteBuffer.wrap(window, windowLength,
                (int) Math.min(window.length - windowLength, end - (windowStart + windowLength)));
        while (at + needed > windowLength) {
            int n = channel.read(into, windowStart + windowLength);
            if (n <= 0) {
                return false;
            }
            windowLength += n;
        }
        return true;
    }

    private static int getInt(byte[] bytes, int at) {
        return (bytes[at] & 0xff) << 24 | (bytes[at + 1] & 0xff) << 16 | (bytes[at + 2] & 0xff) << 8
                | (bytes[at + 3] & 0xff);
    }

    private static Read damaged(Segment segment, long position, long end, String why) {
        LOG.warn("spool segment damaged, skipping its tail file={} offset={} skipped_bytes={} reason=\"{}\"",
                segment.path.getFileName(), position, end - position, why);
        return new Read(position, true);
    }

    /**
     * Deletes a sealed segment whose records have all been delivered. The file goes first: a segment whose file
     * could not be deleted stays listed, so that the deletion is tried again rather than forgotten.
     */
    void delete(Segment segment) throws IOException {
        if (readSegment == segment) {
            closeReadChannel();
        }
        Files.deleteIfExists(segment.path);
        segments.remove(segment);
        bytes.addAndGet(-segment.written);
    }

    /**
     * Gives up the open segment after a failed write: it is sealed at the end of its last whole append, the only part
     * a reader may trust, and cut back to it on disk where that still works, so that a later process does not read
     * the half-written tail. The next append opens a new segment.
     */
    void abandonActive() {
        Segment segment = active;
        FileChannel channel = activeChannel;
        active = null;
        activeChannel = null;
        if (segment == null) {
            return;
        }
        try {
            channel.truncate(segment.written);
        } catch (IOException | RuntimeException e) {
            LOG.debug("could not cut back an abandoned spool segment file={}", segment.path.getFileName(), e);
        }
        segment.sealed = true;
        retired.add(channel);
    }

    /**
     * Seals the open segment, forces everything to the device and releases the directory; segments left are replayed
     * by the next process. For a clean stop, once nothing appends or forces any more.
     */
    @Override
    public void close() throws IOException {
        closeReadChannel();
        try {
            roll();
            force();
        } finally {
            lock.release();
            lockChannel.close();
        }
    }

    /** Lets go of the directory without forcing anything, as a killed process would. */
    void release() throws IOException {
        closeReadChannel();
        FileChannel channel = activeChannel;
        if (channel != null) {
            channel.close();
        }
        for (FileChannel c : retired) {
            c.close();
        }
        lock.release();
        lockChannel.close();
    }

    /** Segments currently held, oldest first (tests). */
    List<Path> files() {
        List<Path> files = new ArrayList<>();
        segments.forEach(s -> files.add(s.path));
        return files;
    }
}
