package dev.infini.cli.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * One training run per run directory: an operating-system lock ({@link FileChannel#tryLock}) on
 * {@code train.lock}, which also names the holder (pid, host, start time) for the message a second run gets. The
 * system drops the lock when its process dies, even by {@code kill -9}; the next run then takes it over, saying whose
 * it was. Where the file system has no locks, the recorded pid is checked instead.
 */
public final class RunLock implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(RunLock.class);
    public static final String FILE = "train.lock";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Takes the lock of {@code runDir} (an existing directory), or fails at once with an
     * {@link IllegalStateException} naming the run that holds it.
     */
    public static RunLock acquire(Path runDir) throws IOException {
        Path file = runDir.resolve(FILE);
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new IllegalArgumentException("--out " + runDir + ": cannot create the lock file " + file + " there ("
                    + OutputPaths.reason(e) + ")", e);
        }
        JsonNode previous = read(ch);
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;  // held by this very process
        } catch (IOException e) {
            log.warn("{}: the file system has no locks ({}); checking the recorded pid instead", file, e.toString());
            if (previous != null && alive(previous)) {
                ch.close();
                throw new IllegalStateException(inUse(runDir, file, previous));
            }
            return take(ch, null, runDir, previous);
        }
        if (lock == null) {
            ch.close();
            throw new IllegalStateException(inUse(runDir, file, previous));
        }
        return take(ch, lock, runDir, previous);
    }

    private static RunLock take(FileChannel ch, FileLock lock, Path runDir, JsonNode previous) throws IOException {
        if (previous != null) {
            log.info("{}: taking over the lock of an earlier run that is no longer running ({})", runDir, describe(previous));
        }
        ObjectNode me = JSON.createObjectNode();
        me.put("pid", ProcessHandle.current().pid());
        me.put("host", hostName());
        me.put("started", Instant.now().toString());
        byte[] bytes = (me + "\n").getBytes(StandardCharsets.UTF_8);
        ch.truncate(0);
        ch.write(ByteBuffer.wrap(bytes), 0);
        ch.force(true);
        return new RunLock(ch, lock);
    }

    /** Releases the lock; the emptied file stays (deleting it would let two runs lock two different files). */
    @Override
    public void close() throws IOException {
        try {
            channel.truncate(0);
            channel.force(true);
            if (lock != null) {
                lock.release();
            }
        } finally {
            channel.close();
        }
    }

    private static String inUse(Path runDir, Path file, JsonNode holder) {
        return "run directory " + runDir + " is in use by another training run (" + (holder == null
                ? "it has not written its pid yet" : describe(holder)) + "; lock file " + file
                + "): wait for it to end, or give another --out";
    }

    private static String describe(JsonNode holder) {
        return "pid " + holder.path("pid").asLong() + " on host " + holder.path("host").asText("?") + ", started "
                + holder.path("started").asText("?");
    }

    /** Whether the recorded holder is a live process of this host. */
    private static boolean alive(JsonNode holder) {
        return holder.path("host").asText().equals(hostName())
                && ProcessHandle.of(holder.path("pid").asLong()).map(ProcessHandle::isAlive).orElse(false);
    }

    /** The holder the file names, or null when it is empty or unreadable (a run that ended cleanly). */
    private static JsonNode read(FileChannel ch) throws IOException {
        long size = ch.size();
        if (size == 0 || size > 4096) {
            return null;
        }
        ByteBuffer buf = ByteBuffer.allocate((int) size);
        ch.read(buf, 0);
        try {
            JsonNode n = JSON.readTree(new String(buf.array(), StandardCharsets.UTF_8));
            return n != null && n.has("pid") ? n : null;
        } catch (IOException e) {
            return null;
        }
    }

    static String hostName() {
        try {
            Path proc = Paths.get("/proc/sys/kernel/hostname");
            if (Files.isReadable(proc)) {
                return Files.readString(proc).strip();
            }
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown-host";
        }
    }
}
