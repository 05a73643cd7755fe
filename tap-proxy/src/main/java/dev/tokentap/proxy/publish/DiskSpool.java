package dev.tokentap.proxy.publish;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An append-only log of byte records on local disk, in segment files, read and deleted oldest first. One thread
 * appends ({@link #append}, {@link #sync}, {@link #roll}); one other thread reads ({@link #oldest},
 * {@link #read}) and deletes ({@link #delete}).
 *
 * <p>Each record is {@code [length:int][crc32c:int][bytes]}. A segment is only ever appended to by the process
 * that created it, and a reader only reads an open segment up to its last {@link #sync}, so a torn write can only
 * be at the end of a segment left by a process that died: reading such a segment stops at the first record whose
 * length is impossible, whose bytes are missing or whose checksum does not match, and says how much it skipped.
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
    private long nextSequence;
    private Segment active;
    private FileChannel activeChannel;

    /** A segment file; {@code synced} is how far a reader may read, {@code sealed} once nothing more is added. */
    static final class Segment {
        final Path path;
        final boolean inherited;
        volatile long synced;
        volatile boolean sealed;
        /** A send from it failed once: what is sent from it now is sent again. */
        volatile boolean retried;
        /** Kafka acknowledged all of it; only deleting it is left (it failed once). */
        volatile boolean delivered;
        long written;

        Segment(Path path, boolean inherited, long size) {
            this.path = path;
            this.inherited = inherited;
            this.synced = size;
            this.written = size;
            this.sealed = inherited;
        }
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

    /** Appends one record to the open segment; false (nothing written) when it would take the spool past its cap. */
    boolean append(byte[] record) throws IOException {
        long size = HEADER + record.length;
        if (bytes.get() + size > maxBytes) {
            return false;
        }
        if (active == null) {
            Path path = dir.resolve(String.format("%020d%s", nextSequence++, SUFFIX));
            activeChannel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            active = new Segment(path, false, 0);
            segments.add(active);
        }
        CRC32C crc = new CRC32C();
        crc.update(record);
        ByteBuffer buffer = ByteBuffer.allocate((int) size);
        buffer.putInt(record.length).putInt((int) crc.getValue()).put(record).flip();
        while (buffer.hasRemaining()) {
            activeChannel.write(buffer);
        }
        active.written += size;
        bytes.addAndGet(size);
        return true;
    }

    /** Forces what was appended to disk and lets the reader see it. */
    void sync() throws IOException {
        if (active != null && active.synced != active.written) {
            activeChannel.force(false);
            active.synced = active.written;
        }
    }

    /** Syncs and closes the open segment, so that the reader can finish it and delete it; the next append opens one. */
    void roll() throws IOException {
        if (active != null) {
            sync();
            activeChannel.close();
            active.sealed = true;
            active = null;
            activeChannel = null;
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

    /**
     * Reads the records of {@code segment} from byte {@code from} up to what has been synced, giving each to
     * {@code records}; returns the position after the last whole, intact record. A damaged record ends the segment.
     */
    long read(Segment segment, long from, Consumer<byte[]> records) throws IOException {
        long end = segment.synced;
        if (from >= end) {
            return from;
        }
        try (FileChannel channel = FileChannel.open(segment.path, StandardOpenOption.READ)) {
            long position = from;
            ByteBuffer header = ByteBuffer.allocate(HEADER);
            while (position < end) {
                header.clear();
                if (end - position < HEADER || channel.read(header, position) < HEADER) {
                    return damaged(segment, position, end, "truncated header");
                }
                header.flip();
                int length = header.getInt();
                int checksum = header.getInt();
                if (length < 0 || length > MAX_RECORD || position + HEADER + length > end) {
                    return damaged(segment, position, end, "bad length " + length);
                }
                ByteBuffer body = ByteBuffer.allocate(length);
                while (body.hasRemaining() && channel.read(body, position + HEADER + body.position()) > 0) {
                    // keep reading
                }
                if (body.hasRemaining()) {
                    return damaged(segment, position, end, "truncated record");
                }
                CRC32C crc = new CRC32C();
                crc.update(body.array());
                if ((int) crc.getValue() != checksum) {
                    return damaged(segment, position, end, "checksum mismatch");
                }
                records.accept(body.array());
                position += HEADER + length;
            }
            return position;
        }
    }

    private long damaged(Segment segment, long position, long end, String why) {
        LOG.warn("spool segment damaged, skipping its tail file={} offset={} skipped_bytes={} reason=\"{}\"",
                segment.path.getFileName(), position, end - position, why);
        // nothing after a torn record can be trusted, and a sealed segment gets no more bytes
        segment.synced = position;
        return position;
    }

    /**
     * Deletes a sealed segment whose records have all been delivered. The file goes first: a segment whose file
     * could not be deleted stays listed, so that the deletion is tried again rather than forgotten.
     */
    void delete(Segment segment) throws IOException {
        Files.deleteIfExists(segment.path);
        segments.remove(segment);
        bytes.addAndGet(-segment.written);
    }

    /**
     * Gives up the open segment after a failed write or sync: it is sealed at its last sync, the only part a
     * reader can trust, and cut back to it on disk where that still works, so that a later process does not read
     * records that were written again elsewhere. The next append opens a new segment.
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
            channel.truncate(segment.synced);
        } catch (IOException | RuntimeException e) {
            LOG.debug("could not cut back an abandoned spool segment file={}", segment.path.getFileName(), e);
        }
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("could not close an abandoned spool segment file={}", segment.path.getFileName(), e);
        }
        bytes.addAndGet(segment.synced - segment.written);
        segment.written = segment.synced;
        segment.sealed = true;
    }

    /** Closes the open segment (synced) and releases the directory; segments left are replayed by the next process. */
    @Override
    public void close() throws IOException {
        try {
            roll();
        } finally {
            lock.release();
            lockChannel.close();
        }
    }

    /** Lets go of the directory without syncing or closing the open segment, as a killed process would. */
    void release() throws IOException {
        if (activeChannel != null) {
            activeChannel.close();
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
