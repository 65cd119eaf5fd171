package dev.infini.datasets;

import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.corpus.ReaderOptions;
import dev.infini.datasets.pipeline.TokenBlockIterator;
import dev.infini.datasets.pipeline.TokenCache;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Pre-tokenization cache: int32 ids plus index, memory-mapped on the second run")
class TokenCacheTest {
    private final ByteTokenizer bytes = new ByteTokenizer();

    @Test
    @DisplayName("first load tokenizes and writes; a second cache instance maps the same ids, index and sources")
    void writeThenMap(@TempDir Path dir) throws IOException {
        Corpus sotu = Corpus.stateOfTheUnion();
        TokenCache.Loaded first = new TokenCache(dir).loadWithInfo(sotu, bytes);
        assertFalse(first.fromCache());
        TokenCache.Loaded second = new TokenCache(dir).loadWithInfo(sotu, bytes);
        assertTrue(second.fromCache());
        assertTrue(second.corpus().isMemoryMapped());
        assertEquals(first.idsFile(), second.idsFile());
        assertEquals(second.corpus().numTokens() * 4, Files.size(second.idsFile()), "int32 per token");

        TokenizedCorpus fresh = TokenizedCorpus.tokenize(sotu, bytes);
        TokenizedCorpus mapped = second.corpus();
        assertEquals(fresh.numDocuments(), mapped.numDocuments());
        assertEquals(fresh.numTokens(), mapped.numTokens());
        for (int d : new int[] {0, 1, 116, 232}) {
            assertArrayEquals(fresh.document(d), mapped.document(d), "document " + d);
            assertEquals(fresh.documentSource(d), mapped.documentSource(d));
        }
        assertEquals("sotu.jsonl.gz:233", mapped.documentSource(232));
        // little-endian int32 on disk: the first id is the first byte of "Fellow-Citizens"
        try (FileChannel ch = FileChannel.open(second.idsFile(), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 0);
            assertEquals('F', b.getInt(0));
        }
        TokenBlockIterator a = TokenBlockIterator.builder(fresh).tokenizer(bytes).seqLen(512).batchSize(4).seed(2).build();
        TokenBlockIterator m = TokenBlockIterator.builder(mapped).tokenizer(bytes).seqLen(512).batchSize(4).seed(2).build();
        assertEquals(a.next().getFeatures(), m.next().getFeatures(), "same batches from heap and mapped corpora");
        assertEquals(a.state().planKey(), m.state().planKey());
    }

    @Test
    @DisplayName("a changed file, other reader options or another tokenizer give another key; a truncated cache is rebuilt")
    void invalidation(@TempDir Path dir) throws IOException {
        Path data = Files.createDirectories(dir.resolve("data"));
        Path f = data.resolve("doc.txt");
        Files.writeString(f, "first version");
        Path cacheDir = dir.resolve("cache");
        TokenCache cache = new TokenCache(cacheDir);
        Corpus c = Corpus.fromPath(data);
        String k1 = TokenCache.key(c, bytes);
        assertEquals("first version", bytes.decode(cache.load(c, bytes).document(0)));
        assertNotEquals(k1, TokenCache.key(c.withOptions(ReaderOptions.defaults().withSplitRegex("\\n")), bytes));
        assertNotEquals(k1, TokenCache.key(c, Fixtures.mistral()));

        Files.writeString(f, "second, longer version");
        Files.setLastModifiedTime(f, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5000));
        Corpus changed = Corpus.fromPath(data);
        assertNotEquals(k1, TokenCache.key(changed, bytes));
        TokenCache.Loaded l = cache.loadWithInfo(changed, bytes);
        assertFalse(l.fromCache());
        assertEquals("second, longer version", bytes.decode(l.corpus().document(0)));

        try (FileChannel ch = FileChannel.open(l.idsFile(), StandardOpenOption.WRITE)) {
            ch.truncate(8);
        }
        TokenCache.Loaded rebuilt = cache.loadWithInfo(changed, bytes);
        assertFalse(rebuilt.fromCache(), "a truncated ids file is detected and rebuilt");
        assertEquals("second, longer version", bytes.decode(rebuilt.corpus().document(0)));
        try (Stream<Path> s = Files.list(cacheDir)) {
            assertTrue(s.noneMatch(p -> p.toString().contains(".tmp")), "no temporary files left");
        }
    }

    @Test
    @DisplayName("the default directory is the system property infini.cache.dir when set, else ~/.cache/infini/tokens")
    void defaultDirectory(@TempDir Path dir) {
        String old = System.getProperty(TokenCache.DIR_PROPERTY);
        try {
            System.setProperty(TokenCache.DIR_PROPERTY, dir.toString());
            assertEquals(dir.toAbsolutePath(), TokenCache.defaultCache().directory());
            System.clearProperty(TokenCache.DIR_PROPERTY);
            if (System.getenv(TokenCache.DIR_ENV) == null) {
                assertEquals(Path.of(System.getProperty("user.home"), ".cache", "infini", "tokens"), TokenCache.defaultDirectory());
            }
        } finally {
            if (old != null) {
                System.setProperty(TokenCache.DIR_PROPERTY, old);
            }
        }
    }

    @Test
    @DisplayName("logged cache paths carry no machine prefix: relative inside the working directory, ~/ under home")
    void shownPathsAreRelative() {
        java.nio.file.Path cwd = java.nio.file.Path.of("").toAbsolutePath();
        assertEquals("target/x.ids", TokenCache.shown(cwd.resolve("target/x.ids")));
        java.nio.file.Path home = java.nio.file.Path.of(System.getProperty("user.home"));
        if (!cwd.startsWith(home)) {
            assertEquals("~/.cache/infini/tokens/a.ids", TokenCache.shown(home.resolve(".cache/infini/tokens/a.ids")));
        }
        assertEquals("/proc/x", TokenCache.shown(java.nio.file.Path.of("/proc/x")));
    }
}
