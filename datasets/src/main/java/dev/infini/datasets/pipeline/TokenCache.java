package dev.infini.datasets.pipeline;

import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.tokenize.Tokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Pre-tokenization cache: a tokenized corpus is written once as two files and memory-mapped afterwards.
 * <ul>
 *   <li>{@code <name>-<key>.ids}: every token id as a little-endian int32, documents back to back;</li>
 *   <li>{@code <name>-<key>.idx}: magic {@code INFT}, format version, key, corpus name, tokenizer fingerprint,
 *       document count, token count, the {@code long} start of every document (plus the end) and each document's
 *       source (file and line or byte offset), in {@link DataOutputStream} format.</li>
 * </ul>
 * The key hashes the corpus' fingerprint (its files' paths, sizes and modification times, or their content for
 * resources in a jar), the reader options and the tokenizer's fingerprint, so a change to any of them
 * tokenizes again. Files are written to temporary names and moved into place, the index last.
 *
 * <p>The directory is, in order: the constructor argument, the system property {@value #DIR_PROPERTY}, the
 * environment variable {@value #DIR_ENV}, or {@code ~/.cache/infini/tokens}.
 */
public final class TokenCache {
    private static final Logger log = LoggerFactory.getLogger(TokenCache.class);
    public static final String DIR_PROPERTY = "infini.cache.dir";
    public static final String DIR_ENV = "INFINI_CACHE_DIR";
    static final int MAGIC = 0x494E4654; // "INFT"
    static final int VERSION = 1;

    private final Path dir;

    public TokenCache(Path dir) {
        this.dir = dir.toAbsolutePath();
    }

    public static TokenCache defaultCache() {
        return new TokenCache(defaultDirectory());
    }

    public static Path defaultDirectory() {
        String p = System.getProperty(DIR_PROPERTY);
        if (p == null || p.isBlank()) {
            p = System.getenv(DIR_ENV);
        }
        if (p != null && !p.isBlank()) {
            return Path.of(p);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "infini", "tokens");
    }

    public Path directory() {
        return dir;
    }

    /** The result of {@link #load}: the corpus and whether it came from the cache. */
    public record Loaded(TokenizedCorpus corpus, boolean fromCache, Path idsFile) {
    }

    /** The tokenized corpus, memory-mapped from the cache; tokenized and written first when not cached yet. */
    public TokenizedCorpus load(Corpus corpus, Tokenizer tokenizer) throws IOException {
        return loadWithInfo(corpus, tokenizer).corpus();
    }

    public Loaded loadWithInfo(Corpus corpus, Tokenizer tokenizer) throws IOException {
        long t0 = System.nanoTime();
        String key = key(corpus, tokenizer);
        String base = safe(corpus.name()) + "-" + key;
        Path ids = dir.resolve(base + ".ids");
        Path idx = dir.resolve(base + ".idx");
        if (Files.isRegularFile(idx) && Files.isRegularFile(ids)) {
            try {
                TokenizedCorpus c = map(ids, idx, key);
                log.info("loaded {} from token cache {} in {} ms", c, shown(ids), (System.nanoTime() - t0) / 1_000_000);
                return new Loaded(c, true, ids);
            } catch (IOException | RuntimeException e) {
                log.warn("token cache {} is unreadable ({}); tokenizing again", shown(idx), e.getMessage());
            }
        }
        TokenizedCorpus fresh = TokenizedCorpus.tokenize(corpus, tokenizer);
        write(fresh, key, ids, idx);
        TokenizedCorpus c = map(ids, idx, key);
        log.info("wrote token cache {} ({} tokens) in {} ms", shown(ids), c.numTokens(), (System.nanoTime() - t0) / 1_000_000);
        return new Loaded(c, false, ids);
    }

    /** The cache key of a corpus read and tokenized this way. */
    public static String key(Corpus corpus, Tokenizer tokenizer) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(("v" + VERSION + "|" + corpus.fingerprint() + "|" + tokenizer.fingerprint())
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest()).substring(0, 20);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes a tokenized corpus as an ids file and an index file (temporary names, then moved into place). */
    public static void write(TokenizedCorpus c, String key, Path idsFile, Path idxFile) throws IOException {
        Files.createDirectories(idsFile.toAbsolutePath().getParent());
        Path tmpIds = idsFile.resolveSibling(idsFile.getFileName() + ".tmp" + ProcessHandle.current().pid());
        Path tmpIdx = idxFile.resolveSibling(idxFile.getFileName() + ".tmp" + ProcessHandle.current().pid());
        try {
            try (FileChannel ch = FileChannel.open(tmpIds, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                IntBuffer src = c.ids().duplicate();
                src.position(0);
                ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                while (src.hasRemaining()) {
                    buf.clear();
                    IntBuffer view = buf.asIntBuffer();
                    int n = Math.min(view.capacity(), src.remaining());
                    IntBuffer part = src.slice();
                    part.limit(n);
                    view.put(part);
                    src.position(src.position() + n);
                    buf.limit(n * 4);
                    while (buf.hasRemaining()) {
                        ch.write(buf);
                    }
                }
            }
            try (OutputStream os = Files.newOutputStream(tmpIdx);
                 DataOutputStream out = new DataOutputStream(new BufferedOutputStream(os))) {
                out.writeInt(MAGIC);
                out.writeInt(VERSION);
                out.writeUTF(key);
                out.writeUTF(c.name());
                out.writeUTF(c.tokenizerFingerprint());
                out.writeInt(c.numDocuments());
                out.writeLong(c.numTokens());
                for (long s : c.starts()) {
                    out.writeLong(s);
                }
                for (String s : c.sources()) {
                    out.writeUTF(s);
                }
            }
            move(tmpIds, idsFile);
            move(tmpIdx, idxFile);
        } finally {
            Files.deleteIfExists(tmpIds);
            Files.deleteIfExists(tmpIdx);
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * Memory-maps a cache written by {@link #write}.
     *
     * @param expectedKey the key the index must hold, or null to accept any
     */
    public static TokenizedCorpus map(Path idsFile, Path idxFile, String expectedKey) throws IOException {
        String name;
        String tokFp;
        long[] starts;
        String[] sources;
        long numTokens;
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(idxFile), 1 << 16))) {
            int magic = in.readInt();
            int version = in.readInt();
            if (magic != MAGIC || version != VERSION) {
                throw new IOException("token cache index " + idxFile + " has magic " + Integer.toHexString(magic)
                        + " and version " + version + ", expected " + Integer.toHexString(MAGIC) + " and " + VERSION);
            }
            String key = in.readUTF();
            if (expectedKey != null && !expectedKey.equals(key)) {
                throw new IOException("token cache index " + idxFile + " has key " + key + ", expected " + expectedKey);
            }
            name = in.readUTF();
            tokFp = in.readUTF();
            int docs = in.readInt();
            numTokens = in.readLong();
            starts = new long[docs + 1];
            for (int i = 0; i <= docs; i++) {
                starts[i] = in.readLong();
            }
            sources = new String[docs];
            for (int i = 0; i < docs; i++) {
                sources[i] = in.readUTF();
            }
        }
        long size = Files.size(idsFile);
        if (size != numTokens * 4) {
            throw new IOException("token cache " + idsFile + " has " + size + " bytes, expected " + numTokens * 4
                    + " for " + numTokens + " tokens (truncated or stale)");
        }
        if (size > Integer.MAX_VALUE) {
            throw new IOException("token cache " + idsFile + " holds more than 2^29 tokens; split the corpus");
        }
        MappedByteBuffer mb;
        try (FileChannel ch = FileChannel.open(idsFile, StandardOpenOption.READ)) {
            mb = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
        }
        IntBuffer ids = mb.order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
        return new TokenizedCorpus(name, tokFp, ids, starts, sources, true);
    }

    private static String safe(String s) {
        return s.replaceAll("[^A-Za-z0-9._-]", "_");
    }

    /**
     * A path as logs show it, without machine-specific prefixes: relative to the working directory when inside it,
     * {@code ~/...} under the user's home, else absolute.
     */
    public static String shown(Path path) {
        Path p = path.toAbsolutePath().normalize();
        Path cwd = Path.of("").toAbsolutePath().normalize();
        if (p.startsWith(cwd) && !p.equals(cwd)) {
            return cwd.relativize(p).toString();
        }
        String home = System.getProperty("user.home");
        if (home != null && !home.isEmpty()) {
            Path h = Path.of(home).toAbsolutePath().normalize();
            if (p.startsWith(h) && !p.equals(h)) {
                return "~/" + h.relativize(p);
            }
        }
        return p.toString();
    }
}
