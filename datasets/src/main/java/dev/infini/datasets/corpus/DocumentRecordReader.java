package dev.infini.datasets.corpus;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.datavec.api.conf.Configuration;
import org.datavec.api.records.Record;
import org.datavec.api.records.metadata.RecordMetaData;
import org.datavec.api.records.reader.BaseRecordReader;
import org.datavec.api.split.InputSplit;
import org.datavec.api.writable.Text;
import org.datavec.api.writable.Writable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * A DataVec {@link org.datavec.api.records.reader.RecordReader} of text documents over any {@link InputSplit}.
 * Each record is one {@link Text} writable (the document) and its {@link DocumentMetaData} points back to the
 * file and byte offset (and line, for JSONL).
 *
 * <ul>
 *   <li>{@code *.jsonl}, {@code *.ndjson} (optionally {@code .gz}): one document per line, the text in
 *       {@link ReaderOptions#textField()}; blank lines are ignored;</li>
 *   <li>any other file (optionally {@code .gz}): one document per file, or several when
 *       {@link ReaderOptions#splitRegex()} is set.</li>
 * </ul>
 * Bad input (empty files or documents, invalid UTF-8, invalid JSON, a JSONL line without the field) is skipped,
 * counted in {@link #stats()} and logged, or fails with a message naming the file and line
 * ({@link BadInputPolicy}). A pass that yields no document at all fails: never a silent empty dataset.
 * Files are read one at a time, each wholly into memory.
 */
public class DocumentRecordReader extends BaseRecordReader {
    private static final Logger log = LoggerFactory.getLogger(DocumentRecordReader.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ReaderOptions options;
    private final Pattern split;
    private List<URI> locations = List.of();
    private int nextLocation;
    private final Deque<Document> pending = new ArrayDeque<>();
    private ReaderStats stats = new ReaderStats();
    private boolean passDone;
    private Configuration conf;

    public DocumentRecordReader() {
        this(ReaderOptions.defaults());
    }

    public DocumentRecordReader(ReaderOptions options) {
        this.options = options;
        this.split = options.splitRegex() == null ? null : Pattern.compile(options.splitRegex());
    }

    public ReaderOptions options() {
        return options;
    }

    @Override
    public void initialize(InputSplit inputSplit) {
        this.inputSplit = inputSplit;
        URI[] locs = inputSplit.locations();
        if (locs == null || locs.length == 0) {
            throw new IllegalArgumentException("the input split " + inputSplit + " has no files: nothing to read");
        }
        this.locations = List.copyOf(Arrays.asList(locs));
        reset();
    }

    @Override
    public void initialize(Configuration conf, InputSplit split) {
        this.conf = conf;
        initialize(split);
    }

    @Override
    public void setConf(Configuration conf) {
        this.conf = conf;
    }

    @Override
    public Configuration getConf() {
        return conf;
    }

    /** Counts of the current pass (files read so far, documents, each kind of skipped input). */
    public ReaderStats stats() {
        return stats.copy();
    }

    @Override
    public boolean hasNext() {
        while (pending.isEmpty() && nextLocation < locations.size()) {
            URI uri = locations.get(nextLocation++);
            pending.addAll(readDocuments(uri, stats));
        }
        if (pending.isEmpty() && !passDone) {
            passDone = true;
            if (stats.documents == 0) {
                throw new IllegalStateException("no documents could be read from " + describeLocations() + ": " + stats);
            }
            if (stats.skipped() > 0 || stats.malformedUtf8Replaced > 0) {
                log.warn("read {}", stats);
            } else {
                log.debug("read {}", stats);
            }
        }
        return !pending.isEmpty();
    }

    /** The next document with its metadata. */
    public Document nextDocument() {
        if (!hasNext()) {
            throw new NoSuchElementException("no more documents");
        }
        return pending.poll();
    }

    @Override
    public List<Writable> next() {
        return Collections.singletonList(new Text(nextDocument().text()));
    }

    @Override
    public Record nextRecord() {
        Document d = nextDocument();
        return new org.datavec.api.records.impl.Record(Collections.singletonList(new Text(d.text())), d.metaData());
    }

    @Override
    public List<String> getLabels() {
        return null;
    }

    @Override
    public void reset() {
        nextLocation = 0;
        pending.clear();
        stats = new ReaderStats();
        passDone = false;
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    @Override
    public List<Writable> record(URI uri, DataInputStream dataInputStream) throws IOException {
        String text = decodeStrict(dataInputStream.readAllBytes(), uri, 0, 0);
        return Collections.singletonList(new Text(text == null ? "" : text));
    }

    @Override
    public Record loadFromMetaData(RecordMetaData recordMetaData) throws IOException {
        if (!(recordMetaData instanceof DocumentMetaData meta)) {
            throw new IllegalArgumentException("not a DocumentMetaData: " + recordMetaData);
        }
        for (Document d : readDocuments(meta.uri(), new ReaderStats())) {
            if (d.metaData().byteOffset() == meta.byteOffset()) {
                return new org.datavec.api.records.impl.Record(Collections.singletonList(new Text(d.text())), d.metaData());
            }
        }
        throw new IOException("no document at " + meta.getLocation());
    }

    @Override
    public List<Record> loadFromMetaData(List<RecordMetaData> list) throws IOException {
        List<Record> out = new ArrayList<>(list.size());
        for (RecordMetaData m : list) {
            out.add(loadFromMetaData(m));
        }
        return out;
    }

    @Override
    public void close() {
    }

    private String describeLocations() {
        if (locations.size() == 1) {
            return locations.get(0).toString();
        }
        return locations.size() + " files (" + locations.get(0) + ", ...)";
    }

    // ---------------------------------------------------------------------------------------------------------

    List<Document> readDocuments(URI uri, ReaderStats st) {
        byte[] bytes;
        try {
            bytes = readBytes(uri);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read corpus file " + uri + ": " + e.getMessage(), e);
        }
        st.files++;
        String name = uri.getPath() == null ? uri.toString() : uri.getPath();
        String lower = name.toLowerCase();
        if (lower.endsWith(".gz")) {
            lower = lower.substring(0, lower.length() - 3);
        }
        List<Document> docs = new ArrayList<>();
        if (isBlank(bytes, 0, bytes.length)) {
            bad(st, Kind.EMPTY, uri, 0, 0, bytes.length == 0 ? "the file is empty" : "the file holds only whitespace");
            return docs;
        }
        if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) {
            readJsonl(uri, bytes, st, docs);
        } else {
            readText(uri, bytes, st, docs);
        }
        return docs;
    }

    private void readText(URI uri, byte[] bytes, ReaderStats st, List<Document> docs) {
        String text = decode(bytes, 0, bytes.length, uri, 0, st);
        if (text == null) {
            return;
        }
        if (split == null) {
            docs.add(new Document(text, new DocumentMetaData(uri, 0, 0, getClass())));
            st.documents++;
            return;
        }
        List<Integer> starts = new ArrayList<>();
        starts.add(0);
        Matcher m = split.matcher(text);
        while (m.find()) {
            int at = m.end() > m.start() ? m.end() : m.start();
            if (at > 0 && at < text.length() && at != starts.get(starts.size() - 1)) {
                starts.add(at);
            }
        }
        long byteOffset = 0;
        int prev = 0;
        for (int i = 0; i < starts.size(); i++) {
            int s = starts.get(i);
            int e = i + 1 < starts.size() ? starts.get(i + 1) : text.length();
            byteOffset += utf8Length(text, prev, s);
            prev = s;
            String piece = text.substring(s, e);
            if (piece.isBlank()) {
                continue;
            }
            docs.add(new Document(piece, new DocumentMetaData(uri, byteOffset, 0, getClass())));
            st.documents++;
        }
    }

    private void readJsonl(URI uri, byte[] bytes, ReaderStats st, List<Document> docs) {
        int start = 0;
        long line = 0;
        while (start < bytes.length) {
            int end = start;
            while (end < bytes.length && bytes[end] != '\n') {
                end++;
            }
            line++;
            if (!isBlank(bytes, start, end)) {
                String s = decode(bytes, start, end, uri, line, st);
                if (s != null) {
                    readJsonLine(uri, s, start, line, st, docs);
                }
            }
            start = end + 1;
        }
    }

    private void readJsonLine(URI uri, String s, long offset, long line, ReaderStats st, List<Document> docs) {
        JsonNode node;
        try {
            node = JSON.readTree(s);
        } catch (JsonProcessingException e) {
            bad(st, Kind.INVALID_JSON, uri, offset, line, "invalid JSON: " + e.getOriginalMessage());
            return;
        }
        JsonNode field = node == null ? null : node.get(options.textField());
        if (field == null || !field.isTextual()) {
            bad(st, Kind.MISSING_FIELD, uri, offset, line, "no text field \"" + options.textField() + "\""
                    + (field == null ? "" : " (it is " + field.getNodeType() + ", not a string)"));
            return;
        }
        String text = field.asText();
        if (text.isBlank()) {
            bad(st, Kind.EMPTY, uri, offset, line, "the field \"" + options.textField() + "\" is empty");
            return;
        }
        docs.add(new Document(text, new DocumentMetaData(uri, offset, line, getClass())));
        st.documents++;
    }

    /** Strict UTF-8 decoding; on invalid bytes: repair, skip (returns null) or fail, per the options. */
    private String decode(byte[] bytes, int from, int to, URI uri, long line, ReaderStats st) {
        try {
            return strictDecoder().decode(ByteBuffer.wrap(bytes, from, to - from)).toString();
        } catch (MalformedInputException e) {
            long at = from + firstBadByte(bytes, from, to);
            if (options.repairUtf8()) {
                st.malformedUtf8Replaced++;
                log.warn("{}: invalid UTF-8 at byte {}; replaced with U+FFFD", where(uri, line), at);
                return new String(bytes, from, to - from, StandardCharsets.UTF_8);
            }
            bad(st, Kind.MALFORMED, uri, at, line, "invalid UTF-8 at byte " + at);
            return null;
        } catch (CharacterCodingException e) {
            throw new IllegalStateException("cannot decode " + where(uri, line) + ": " + e.getMessage(), e);
        }
    }

    private static String decodeStrict(byte[] bytes, URI uri, long offset, long line) throws IOException {
        try {
            return strictDecoder().decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new IOException(where(uri, line) + ": invalid UTF-8", e);
        }
    }

    private static CharsetDecoder strictDecoder() {
        return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
    }

    private static int firstBadByte(byte[] bytes, int from, int to) {
        CharsetDecoder d = strictDecoder();
        ByteBuffer in = ByteBuffer.wrap(bytes, from, to - from);
        CharBuffer out = CharBuffer.allocate(to - from + 1);
        d.decode(in, out, true);
        return in.position() - from;
    }

    private enum Kind { EMPTY, MALFORMED, MISSING_FIELD, INVALID_JSON }

    private void bad(ReaderStats st, Kind kind, URI uri, long offset, long line, String what) {
        String msg = where(uri, line) + ": " + what;
        if (options.badInput() == BadInputPolicy.FAIL) {
            throw new IllegalArgumentException("bad input in " + msg);
        }
        switch (kind) {
            case EMPTY -> st.emptySkipped++;
            case MALFORMED -> st.malformedUtf8Skipped++;
            case MISSING_FIELD -> st.missingFieldSkipped++;
            case INVALID_JSON -> st.invalidJsonSkipped++;
        }
        log.warn("skipped document in {}", msg);
    }

    private static String where(URI uri, long line) {
        return line > 0 ? uri + " line " + line : uri.toString();
    }

    static byte[] readBytes(URI uri) throws IOException {
        byte[] raw;
        if ("file".equals(uri.getScheme())) {
            raw = Files.readAllBytes(Path.of(uri));
        } else {
            try (InputStream in = uri.toURL().openStream()) {
                raw = in.readAllBytes();
            }
        }
        if (raw.length >= 2 && (raw[0] & 0xFF) == 0x1F && (raw[1] & 0xFF) == 0x8B) {
            try (InputStream gz = new GZIPInputStream(new ByteArrayInputStream(raw))) {
                return gz.readAllBytes();
            }
        }
        return raw;
    }

    private static boolean isBlank(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            byte c = b[i];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t' && c != '\f') {
                return false;
            }
        }
        return true;
    }

    private static long utf8Length(String s, int from, int to) {
        long n = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n++;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < to) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }
}
