package dev.infini.datasets;

import dev.infini.datasets.corpus.BadInputPolicy;
import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.corpus.Document;
import dev.infini.datasets.corpus.DocumentMetaData;
import dev.infini.datasets.corpus.DocumentRecordReader;
import dev.infini.datasets.corpus.ReaderOptions;
import org.datavec.api.records.Record;
import org.datavec.api.split.FileSplit;
import org.datavec.api.writable.Writable;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("DataVec document reader: bundled corpora, user files, metadata, bad input")
class DocumentRecordReaderTest {

    private static List<Document> readAll(DocumentRecordReader r) {
        List<Document> out = new ArrayList<>();
        while (r.hasNext()) {
            out.add(r.nextDocument());
        }
        return out;
    }

    private static byte[] gunzipResource(String name) throws IOException {
        try (InputStream in = new GZIPInputStream(Corpus.class.getResourceAsStream(Corpus.RESOURCE_DIR + name))) {
            return in.readAllBytes();
        }
    }

    @Test
    @DisplayName("Moby-Dick is one long document that starts with 'CHAPTER 1. Loomings.' and the NOTICE is bundled")
    void mobyDickOneDocument() {
        List<Document> docs = readAll(Corpus.mobyDick().newReader());
        assertEquals(1, docs.size());
        assertTrue(docs.get(0).text().startsWith("CHAPTER 1. Loomings."));
        assertTrue(docs.get(0).text().length() > 1_000_000, "the whole book: " + docs.get(0).text().length());
        assertTrue(docs.get(0).text().contains("Call me Ishmael."));
        assertTrue(Corpus.class.getResource(Corpus.RESOURCE_DIR + "NOTICE.md") != null, "provenance and license bundled");
    }

    @Test
    @DisplayName("Moby-Dick by chapter: 135 documents, each byte offset in the metadata points at its 'CHAPTER n.' heading")
    void mobyDickChapters() throws IOException {
        List<Document> docs = readAll(Corpus.mobyDickChapters().newReader());
        byte[] raw = gunzipResource("moby-dick.txt.gz");
        long chapters = docs.stream().filter(d -> d.text().startsWith("CHAPTER ")).count();
        assertEquals(135, chapters);
        for (Document d : docs) {
            long off = d.metaData().byteOffset();
            String head = new String(raw, (int) off, 40, StandardCharsets.UTF_8);
            assertTrue(d.text().startsWith(head.substring(0, 20)), "offset " + off + " points at '" + head + "'");
        }
        assertEquals(new String(raw, StandardCharsets.UTF_8), String.join("", docs.stream().map(Document::text).toList()),
                "the chapters together are the whole book");
    }

    @Test
    @DisplayName("State of the Union: 233 JSONL documents with line numbers 1..233, reloadable from their metadata")
    void stateOfTheUnion() throws IOException {
        DocumentRecordReader r = Corpus.stateOfTheUnion().newReader();
        List<Record> recs = new ArrayList<>();
        while (r.hasNext()) {
            recs.add(r.nextRecord());
        }
        assertEquals(233, recs.size());
        assertEquals(233, r.stats().documents());
        assertEquals(0, r.stats().skipped());
        DocumentMetaData first = (DocumentMetaData) recs.get(0).getMetaData();
        DocumentMetaData last = (DocumentMetaData) recs.get(232).getMetaData();
        assertEquals(1, first.line());
        assertEquals(0, first.byteOffset());
        assertEquals(233, last.line());
        assertTrue(last.getLocation().contains("sotu.jsonl.gz:line 233"), last.getLocation());
        assertTrue(recs.get(0).getRecord().get(0).toString().startsWith("Fellow-Citizens of the Senate"));
        Record again = r.loadFromMetaData(recs.get(100).getMetaData());
        assertEquals(recs.get(100).getRecord().get(0).toString(), again.getRecord().get(0).toString());
        byte[] raw = gunzipResource("sotu.jsonl.gz");
        DocumentMetaData mid = (DocumentMetaData) recs.get(100).getMetaData();
        assertEquals('{', raw[(int) mid.byteOffset()], "the byte offset is the start of the JSON line");
    }

    @Test
    @DisplayName("reset() gives the same documents again; next() yields one Text writable per document")
    void resetAndWritables() {
        DocumentRecordReader r = Corpus.mobyDickChapters().newReader();
        List<Writable> first = r.next();
        assertEquals(1, first.size());
        readAll(r);
        assertFalse(r.hasNext());
        r.reset();
        assertEquals(first.get(0).toString(), r.next().get(0).toString());
    }

    @Test
    @DisplayName("a user folder: text files (plain and gzipped, nested) and a JSONL file with its own field, in sorted order")
    void userFolder(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("a.txt"), "First document.\n");
        Files.createDirectories(dir.resolve("sub"));
        Files.writeString(dir.resolve("sub/c.txt"), "Third, in a subfolder.");
        try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(dir.resolve("b.txt.gz")))) {
            out.write("Second, gzipped: ünïcödé.".getBytes(StandardCharsets.UTF_8));
        }
        Files.writeString(dir.resolve(".hidden.txt"), "never read");
        List<Document> docs = readAll(Corpus.fromPath(dir).newReader());
        assertEquals(List.of("First document.\n", "Second, gzipped: ünïcödé.", "Third, in a subfolder."),
                docs.stream().map(Document::text).toList());
        assertTrue(docs.get(2).metaData().uri().getPath().endsWith("sub/c.txt"));

        Path jsonl = dir.resolve("j/data.jsonl");
        Files.createDirectories(jsonl.getParent());
        Files.writeString(jsonl, "{\"body\": \"one\"}\n\n{\"body\": \"two\", \"x\": 1}\n");
        List<Document> j = readAll(Corpus.fromPath(jsonl, ReaderOptions.defaults().withTextField("body")).newReader());
        assertEquals(List.of("one", "two"), j.stream().map(Document::text).toList());
        assertEquals(3, j.get(1).metaData().line());
    }

    @Test
    @DisplayName("the reader works on a plain DataVec FileSplit too")
    void fileSplit(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("x.txt"), "hello");
        DocumentRecordReader r = new DocumentRecordReader();
        r.initialize(new FileSplit(dir.toFile()));
        assertEquals("hello", r.next().get(0).toString());
        assertFalse(r.hasNext());
    }

    @Test
    @DisplayName("an empty file among good ones is skipped and counted; a folder of only empty files is an error naming it")
    void emptyFile(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("a.txt"), "good");
        Files.writeString(dir.resolve("b.txt"), "");
        Files.writeString(dir.resolve("c.txt"), "  \n\n ");
        DocumentRecordReader r = Corpus.fromPath(dir).newReader();
        assertEquals(1, readAll(r).size());
        assertEquals(2, r.stats().emptySkipped());

        Path onlyEmpty = Files.createDirectories(dir.resolve("empty-ones"));
        Files.writeString(onlyEmpty.resolve("z.txt"), "");
        DocumentRecordReader r2 = Corpus.fromPath(onlyEmpty).newReader();
        IllegalStateException e = assertThrows(IllegalStateException.class, r2::hasNext);
        assertTrue(e.getMessage().contains("z.txt") && e.getMessage().contains("1 empty"), e.getMessage());

        Files.writeString(dir.resolve("b.txt"), "");
        IllegalArgumentException strict = assertThrows(IllegalArgumentException.class, () -> readAll(
                Corpus.fromPath(dir, ReaderOptions.defaults().withBadInput(BadInputPolicy.FAIL)).newReader()));
        assertTrue(strict.getMessage().contains("b.txt") && strict.getMessage().contains("empty"), strict.getMessage());
    }

    @Test
    @DisplayName("an empty folder and a missing path are clear errors naming the path")
    void emptyFolder(@TempDir Path dir) throws IOException {
        Path empty = Files.createDirectories(dir.resolve("nothing-here"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Corpus.fromPath(empty));
        assertTrue(e.getMessage().contains("nothing-here") && e.getMessage().contains("no files"), e.getMessage());
        IllegalArgumentException m = assertThrows(IllegalArgumentException.class, () -> Corpus.fromPath(dir.resolve("missing.txt")));
        assertTrue(m.getMessage().contains("missing.txt"), m.getMessage());
    }

    @Test
    @DisplayName("non-UTF-8 bytes: skipped and counted, or an error naming file and byte, or repaired to U+FFFD")
    void malformedUtf8(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("a.txt"), "fine");
        byte[] latin1 = "caf\u00e9 cr\u00e8me".getBytes(StandardCharsets.ISO_8859_1);
        Files.write(dir.resolve("b-latin1.txt"), latin1);
        DocumentRecordReader r = Corpus.fromPath(dir).newReader();
        assertEquals(List.of("fine"), readAll(r).stream().map(Document::text).toList());
        assertEquals(1, r.stats().malformedUtf8Skipped());

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> readAll(
                Corpus.fromPath(dir, ReaderOptions.defaults().withBadInput(BadInputPolicy.FAIL)).newReader()));
        assertTrue(e.getMessage().contains("b-latin1.txt") && e.getMessage().contains("invalid UTF-8 at byte 3"), e.getMessage());

        DocumentRecordReader repair = Corpus.fromPath(dir, ReaderOptions.defaults().withRepairUtf8(true)).newReader();
        List<Document> docs = readAll(repair);
        assertEquals("caf\uFFFD cr\uFFFDme", docs.get(1).text());
        assertEquals(1, repair.stats().malformedUtf8Replaced());
    }

    @Test
    @DisplayName("JSONL: a line without the field or with invalid JSON is skipped and counted, or an error naming file and line")
    void jsonlBadLines(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("docs.jsonl");
        Files.writeString(f, String.join("\n", "{\"text\": \"ok one\"}", "{\"title\": \"no text\"}", "{\"text\": 42}",
                "{broken", "{\"text\": \"\"}", "{\"text\": \"ok two\"}"));
        DocumentRecordReader r = Corpus.fromPath(f).newReader();
        assertEquals(List.of("ok one", "ok two"), readAll(r).stream().map(Document::text).toList());
        assertEquals(2, r.stats().missingFieldSkipped());
        assertEquals(1, r.stats().invalidJsonSkipped());
        assertEquals(1, r.stats().emptySkipped());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> readAll(
                Corpus.fromPath(f, ReaderOptions.defaults().withBadInput(BadInputPolicy.FAIL)).newReader()));
        assertTrue(e.getMessage().contains("docs.jsonl line 2") && e.getMessage().contains("\"text\""), e.getMessage());
    }

    @Test
    @DisplayName("record(uri, stream) reads one document; an input split without files is an error")
    void recordAndEmptySplit() throws IOException {
        DocumentRecordReader r = new DocumentRecordReader();
        List<Writable> w = r.record(Path.of("x.txt").toUri(),
                new java.io.DataInputStream(new ByteArrayInputStream("abc".getBytes(StandardCharsets.UTF_8))));
        assertEquals("abc", w.get(0).toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> r.initialize(new org.datavec.api.split.CollectionInputSplit(Arrays.asList())));
        assertTrue(e.getMessage().contains("no files"), e.getMessage());
    }
}
