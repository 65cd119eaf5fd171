package dev.infini.datasets.pipeline;

import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.corpus.Document;
import dev.infini.datasets.corpus.DocumentRecordReader;
import dev.infini.datasets.tokenize.Tokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * A corpus as token ids: all documents' ids back to back in one {@link IntBuffer} (on the heap after
 * {@link #tokenize}, memory-mapped when loaded by {@link TokenCache}) plus an index of where each document starts.
 * Documents hold no BOS/EOS: the block iterators add them.
 */
public final class TokenizedCorpus {
    private static final Logger log = LoggerFactory.getLogger(TokenizedCorpus.class);
    /** Text tokenized per parallel chunk (characters). */
    private static final int CHUNK_CHARS = 4 << 20;

    private final String name;
    private final String tokenizerFingerprint;
    private final IntBuffer ids;
    private final long[] starts;
    private final String[] sources;
    private final boolean mapped;

    TokenizedCorpus(String name, String tokenizerFingerprint, IntBuffer ids, long[] starts, String[] sources, boolean mapped) {
        this.name = name;
        this.tokenizerFingerprint = tokenizerFingerprint;
        this.ids = ids;
        this.starts = starts;
        this.sources = sources;
        this.mapped = mapped;
        if (starts.length != sources.length + 1 || starts[starts.length - 1] != ids.limit()) {
            throw new IllegalArgumentException("inconsistent token index for corpus " + name + ": " + sources.length
                    + " documents, index ends at " + starts[starts.length - 1] + ", " + ids.limit() + " ids");
        }
    }

    /** Reads and tokenizes every document of {@code corpus} (no cache; see {@link TokenCache#load}). */
    public static TokenizedCorpus tokenize(Corpus corpus, Tokenizer tokenizer) {
        return tokenize(corpus.name(), corpus.newReader(), tokenizer);
    }

    /**
     * Tokenizes every document of an initialized reader, in order (chunks of documents in parallel on the
     * common pool). Documents that tokenize to nothing are skipped and counted; no documents at all is an error.
     */
    public static TokenizedCorpus tokenize(String name, DocumentRecordReader reader, Tokenizer tokenizer) {
        long t0 = System.nanoTime();
        IntList all = new IntList(1 << 16);
        List<Long> starts = new ArrayList<>();
        List<String> sources = new ArrayList<>();
        int emptyAfterTokenizing = 0;
        List<Document> chunk = new ArrayList<>();
        long chunkChars = 0;
        boolean more = true;
        while (more) {
            more = reader.hasNext();
            if (more) {
                Document d = reader.nextDocument();
                chunk.add(d);
                chunkChars += d.text().length();
            }
            if (!chunk.isEmpty() && (!more || chunkChars >= CHUNK_CHARS)) {
                List<Document> docs = chunk;
                int[][] encoded = new int[docs.size()][];
                IntStream.range(0, docs.size()).parallel().forEach(i -> encoded[i] = tokenizer.encode(docs.get(i).text()));
                for (int i = 0; i < docs.size(); i++) {
                    if (encoded[i].length == 0) {
                        emptyAfterTokenizing++;
                        log.warn("skipped document {}: no tokens", docs.get(i).metaData().getLocation());
                        continue;
                    }
                    starts.add((long) all.size());
                    sources.add(docs.get(i).metaData().shortLocation());
                    all.addAll(encoded[i]);
                }
                chunk = new ArrayList<>();
                chunkChars = 0;
            }
        }
        if (sources.isEmpty()) {
            throw new IllegalStateException("corpus " + name + " has no document with at least one token ("
                    + reader.stats() + ", " + emptyAfterTokenizing + " tokenized to nothing)");
        }
        long[] st = new long[starts.size() + 1];
        for (int i = 0; i < starts.size(); i++) {
            st[i] = starts.get(i);
        }
        st[starts.size()] = all.size();
        double secs = (System.nanoTime() - t0) / 1e9;
        log.info("tokenized corpus {} with {}: {} documents, {} tokens in {} s", name, tokenizer, sources.size(), all.size(),
                String.format("%.2f", secs));
        return new TokenizedCorpus(name, tokenizer.fingerprint(), IntBuffer.wrap(all.toArray()), st,
                sources.toArray(new String[0]), false);
    }

    /** A corpus from in-memory token id arrays (one per document), e.g. for tests or synthetic tasks. */
    public static TokenizedCorpus of(String name, String tokenizerFingerprint, List<int[]> documents) {
        IntList all = new IntList(1024);
        long[] st = new long[documents.size() + 1];
        String[] src = new String[documents.size()];
        for (int i = 0; i < documents.size(); i++) {
            if (documents.get(i).length == 0) {
                throw new IllegalArgumentException("document " + i + " of " + name + " has no tokens");
            }
            st[i] = all.size();
            src[i] = name + "#" + i;
            all.addAll(documents.get(i));
        }
        st[documents.size()] = all.size();
        if (documents.isEmpty()) {
            throw new IllegalArgumentException("corpus " + name + " has no documents");
        }
        return new TokenizedCorpus(name, tokenizerFingerprint, IntBuffer.wrap(all.toArray()), st, src, false);
    }

    public String name() {
        return name;
    }

    public String tokenizerFingerprint() {
        return tokenizerFingerprint;
    }

    public int numDocuments() {
        return sources.length;
    }

    public long numTokens() {
        return starts[starts.length - 1];
    }

    public int documentLength(int doc) {
        return (int) (starts[doc + 1] - starts[doc]);
    }

    /** Where document {@code doc} came from (file name and line, or byte offset). */
    public String documentSource(int doc) {
        return sources[doc];
    }

    /** Copies {@code len} ids of document {@code doc} starting at {@code from} into {@code dst[off..]}. */
    public void read(int doc, int from, int[] dst, int off, int len) {
        if (from < 0 || len < 0 || from + len > documentLength(doc)) {
            throw new IndexOutOfBoundsException("tokens [" + from + ", " + (from + len) + ") of document " + doc
                    + " with " + documentLength(doc) + " tokens");
        }
        ids.get((int) (starts[doc] + from), dst, off, len);
    }

    public int[] document(int doc) {
        int[] out = new int[documentLength(doc)];
        read(doc, 0, out, 0, out.length);
        return out;
    }

    /** True when the ids are a memory-mapped cache file. */
    public boolean isMemoryMapped() {
        return mapped;
    }

    IntBuffer ids() {
        return ids;
    }

    long[] starts() {
        return starts;
    }

    String[] sources() {
        return sources;
    }

    /**
     * Splits the documents (never a document in two) into train and validation, by a seeded shuffle.
     *
     * @param validationFraction in [0, 1); at least one document goes to validation when it is above 0
     */
    public DocumentSplit split(double validationFraction, long seed) {
        if (!(validationFraction >= 0 && validationFraction < 1)) {
            throw new IllegalArgumentException("validation fraction must be in [0, 1), got " + validationFraction);
        }
        int n = numDocuments();
        int nVal = validationFraction == 0 ? 0 : Math.max(1, (int) Math.round(validationFraction * n));
        if (nVal > 0 && n - nVal < 1) {
            throw new IllegalArgumentException("corpus " + name + " has " + n + " document(s): cannot split it by document "
                    + "into train and validation (cut it into several documents, e.g. Corpus.mobyDickChapters() or "
                    + "ReaderOptions.withSplitRegex)");
        }
        int[] perm = IntStream.range(0, n).toArray();
        Random r = new Random(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        int[] val = Arrays.copyOfRange(perm, 0, nVal);
        int[] train = Arrays.copyOfRange(perm, nVal, n);
        Arrays.sort(val);
        Arrays.sort(train);
        return new DocumentSplit(train, val);
    }

    /** Document indices of a train/validation split. */
    public record DocumentSplit(int[] train, int[] validation) {
    }

    @Override
    public String toString() {
        return "TokenizedCorpus(" + name + ", " + numDocuments() + " documents, " + numTokens() + " tokens"
                + (mapped ? ", memory-mapped" : "") + ")";
    }

    static final class IntList {
        private int[] a;
        private int n;

        IntList(int cap) {
            a = new int[cap];
        }

        void addAll(int[] v) {
            if (n + v.length > a.length) {
                long cap = Math.max((long) a.length * 2, (long) n + v.length);
                if (cap > Integer.MAX_VALUE - 16) {
                    throw new IllegalStateException("corpus too large: more than 2^31 tokens");
                }
                a = Arrays.copyOf(a, (int) cap);
            }
            System.arraycopy(v, 0, a, n, v.length);
            n += v.length;
        }

        int size() {
            return n;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
