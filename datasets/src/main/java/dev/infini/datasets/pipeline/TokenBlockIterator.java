package dev.infini.datasets.pipeline;

import dev.infini.datasets.tokenize.Tokenizer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.adapter.MultiDataSetIteratorAdapter;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * Blocks of {@code seq_len} tokens from a {@link TokenizedCorpus}, as a {@link DataSetIterator}
 * ({@link #asMultiDataSetIterator()} for a {@link MultiDataSetIterator}). Each {@link DataSet}:
 * <ul>
 *   <li>features: token ids {@code [batch, seq_len]}, {@link DataType#INT32} by default ({@link Builder#idType});</li>
 *   <li>labels: next-token ids {@code [batch, seq_len]}, same type: the label at position t is the token at t+1;</li>
 *   <li>features mask {@code [batch, seq_len]} FLOAT: 1 for a real token, 0 for padding;</li>
 *   <li>labels mask {@code [batch, seq_len]} FLOAT: 1 where the next token exists, 0 for padding and for the
 *       last position of a block whose next token is unknown (end of a document in
 *       {@link BlockMode#PER_DOCUMENT}, end of the stream in {@link BlockMode#CONCATENATED}).</li>
 * </ul>
 * Padding positions hold the pad id in features and labels. A trainer slices the time axis into segments
 * (columns {@code [k*S, (k+1)*S)}); blocks of one batch are independent sequences.
 *
 * <p>Order: blocks in corpus order, or shuffled by a permutation seeded from (seed, epoch).
 * {@link #reset()} starts the next epoch (a no-op when nothing of the current one was read yet);
 * {@link #state()} and {@link #restore} save and restore the position, so a resumed run yields the same batches
 * as an uninterrupted one. The last batch of an epoch is smaller unless {@link Builder#dropLast}.
 */
public final class TokenBlockIterator implements DataSetIterator {
    private static final long serialVersionUID = 1L;
    private static final Logger log = LoggerFactory.getLogger(TokenBlockIterator.class);

    private final transient TokenizedCorpus corpus;
    private final int seqLen;
    private final int batchSize;
    private final BlockMode mode;
    private final boolean addBos;
    private final int bos;
    private final int eos;
    private final int pad;
    private final int vocabSize;
    private final boolean shuffle;
    private final long seed;
    private final boolean dropLast;
    private final DataType idType;
    private final String planKey;

    // CONCATENATED: the documents of the stream in order and where each starts in it.
    private final int[] docs;
    private final long[] streamStart;
    private final long streamLength;
    // PER_DOCUMENT: document and start (within the document's sequence) of every block.
    private final int[] blockDoc;
    private final int[] blockStart;
    private final long numBlocks;

    private long epoch;
    private long cursor;
    private int[] order;
    private DataSetPreProcessor preProcessor;

    private TokenBlockIterator(Builder b) {
        this.corpus = b.corpus;
        this.seqLen = b.seqLen;
        this.batchSize = b.batchSize;
        this.mode = b.mode;
        this.addBos = b.addBos;
        this.bos = b.bos;
        this.eos = b.eos;
        this.pad = b.pad;
        this.vocabSize = b.vocabSize;
        this.shuffle = b.shuffle;
        this.seed = b.seed;
        this.dropLast = b.dropLast;
        this.idType = b.idType;
        int extra = (addBos ? 1 : 0) + 1;
        this.docs = selectDocuments(b);
        if (mode == BlockMode.CONCATENATED) {
            streamStart = streamStarts(corpus, docs, extra);
            streamLength = streamStart[docs.length];
            numBlocks = Math.max(1, ceilDiv(streamLength - 1, seqLen));
            blockDoc = null;
            blockStart = null;
        } else {
            streamStart = null;
            streamLength = 0;
            int[][] blocks = documentBlocks(extra);
            blockDoc = blocks[0];
            blockStart = blocks[1];
            numBlocks = blockDoc.length;
        }
        if (numBlocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("too many blocks: " + numBlocks);
        }
        if (dropLast && numBlocks < batchSize) {
            throw new IllegalArgumentException("corpus " + corpus.name() + " gives " + numBlocks + " blocks of " + seqLen
                    + " tokens, fewer than one batch of " + batchSize + " with dropLast: no batch at all");
        }
        this.planKey = computePlanKey();
        setEpoch(0);
        log.debug("{} blocks of {} tokens ({}) from {} documents of {}", numBlocks, seqLen, mode, docs.length, corpus.name());
    }

    /** The builder's documents (all by default), checked, without those shorter than its minimum. */
    private int[] selectDocuments(Builder b) {
        int[] selected = b.documents != null ? b.documents.clone() : IntStream.range(0, corpus.numDocuments()).toArray();
        if (selected.length == 0) {
            throw new IllegalArgumentException("no documents selected from corpus " + corpus.name());
        }
        int tooShort = 0;
        int kept = 0;
        int[] keep = new int[selected.length];
        for (int d : selected) {
            if (d < 0 || d >= corpus.numDocuments()) {
                throw new IllegalArgumentException("document index " + d + " is outside corpus " + corpus.name() + " with "
                        + corpus.numDocuments() + " documents");
            }
            if (corpus.documentLength(d) < b.minDocumentTokens) {
                tooShort++;
                continue;
            }
            keep[kept++] = d;
        }
        if (tooShort > 0) {
            log.warn("skipped {} of {} documents of {} with fewer than {} tokens", tooShort, selected.length, corpus.name(),
                    b.minDocumentTokens);
        }
        if (kept == 0) {
            throw new IllegalArgumentException("no document of corpus " + corpus.name() + " has at least "
                    + b.minDocumentTokens + " tokens (" + selected.length + " selected)");
        }
        return Arrays.copyOf(keep, kept);
    }

    /** CONCATENATED: where each document starts in the stream, and (last) the stream's length. */
    private static long[] streamStarts(TokenizedCorpus corpus, int[] docs, int extra) {
        long[] starts = new long[docs.length + 1];
        long s = 0;
        for (int i = 0; i < docs.length; i++) {
            starts[i] = s;
            s += corpus.documentLength(docs[i]) + extra;
        }
        starts[docs.length] = s;
        return starts;
    }

    /** PER_DOCUMENT: the document and the start (within the document's sequence) of every block. */
    private int[][] documentBlocks(int extra) {
        long n = 0;
        int shortDocs = 0;
        for (int d : docs) {
            n += ceilDiv(corpus.documentLength(d) + extra - 1, seqLen);
            if (corpus.documentLength(d) + extra < seqLen) {
                shortDocs++;
            }
        }
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("too many blocks: " + n);
        }
        int[] doc = new int[(int) n];
        int[] start = new int[(int) n];
        int k = 0;
        for (int d : docs) {
            int seq = corpus.documentLength(d) + extra;
            for (int st = 0; st < seq - 1; st += seqLen) {
                doc[k] = d;
                start[k] = st;
                k++;
            }
        }
        if (shortDocs > 0) {
            log.info("{} of {} documents of {} are shorter than seq_len {}: each fills one padded block", shortDocs,
                    docs.length, corpus.name(), seqLen);
        }
        return new int[][] {doc, start};
    }

    public static Builder builder(TokenizedCorpus corpus) {
        return new Builder(corpus);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    // ------------------------------------------------------------------------------------------------- state

    /** Blocks in one epoch. */
    public long numBlocks() {
        return numBlocks;
    }

    /** Batches in one epoch. */
    public long numBatches() {
        return dropLast ? numBlocks / batchSize : ceilDiv(numBlocks, batchSize);
    }

    public int seqLen() {
        return seqLen;
    }

    public BlockMode mode() {
        return mode;
    }

    public long epoch() {
        return epoch;
    }

    /** The current position; pass it to {@link #restore} (possibly in a new process) to continue from here. */
    public IteratorState state() {
        return new IteratorState(epoch, cursor, planKey);
    }

    /** Continues from a saved position: the next batch is the one that followed it. */
    public void restore(IteratorState state) {
        if (!planKey.equals(state.planKey())) {
            throw new IllegalArgumentException("iterator state " + state.encode() + " belongs to another block plan (this one is "
                    + planKey + ": corpus, seq_len, batch, mode, seed or documents differ)");
        }
        if (state.cursor() > numBlocks) {
            throw new IllegalArgumentException("iterator state cursor " + state.cursor() + " is past the " + numBlocks + " blocks");
        }
        setEpoch(state.epoch());
        cursor = state.cursor();
    }

    /** Jumps to the start of {@code epoch} (its shuffle is seeded from (seed, epoch)). */
    public void setEpoch(long epoch) {
        this.epoch = epoch;
        this.cursor = 0;
        this.order = null;
        if (shuffle) {
            int n = (int) numBlocks;
            int[] p = new int[n];
            for (int i = 0; i < n; i++) {
                p[i] = i;
            }
            Random r = new Random(seed * 0x9E3779B97F4A7C15L + epoch * 0xC2B2AE3D27D4EB4FL + 0x165667B19E3779F9L);
            for (int i = n - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = p[i];
                p[i] = p[j];
                p[j] = t;
            }
            this.order = p;
        }
    }

    private String computePlanKey() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            String head = corpus.name() + "|" + corpus.tokenizerFingerprint() + "|" + corpus.numTokens() + "|" + seqLen + "|"
                    + batchSize + "|" + mode + "|" + addBos + "|" + bos + "|" + eos + "|" + shuffle + "|" + seed + "|"
                    + dropLast + "|" + numBlocks + "|";
            md.update(head.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            for (int d : docs) {
                md.update((byte) d);
                md.update((byte) (d >>> 8));
                md.update((byte) (d >>> 16));
                md.update((byte) (d >>> 24));
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ------------------------------------------------------------------------------------------------- blocks

    /**
     * Fills block {@code block}: {@code tokens[0..seqLen]} (seqLen + 1 entries: the block plus the next token);
     * returns how many of them exist.
     */
    int fillBlock(int block, int[] tokens) {
        if (mode == BlockMode.CONCATENATED) {
            long from = (long) block * seqLen;
            int n = (int) Math.min(seqLen + 1L, streamLength - from);
            int i = Arrays.binarySearch(streamStart, from);
            int di = i >= 0 ? i : -i - 2;
            int filled = 0;
            long pos = from;
            while (filled < n) {
                int local = (int) (pos - streamStart[di]);
                int seqLenDoc = (int) (streamStart[di + 1] - streamStart[di]);
                int take = Math.min(n - filled, seqLenDoc - local);
                readSequence(docs[di], local, tokens, filled, take);
                filled += take;
                pos += take;
                di++;
            }
            return n;
        }
        int d = blockDoc[block];
        int seq = corpus.documentLength(d) + (addBos ? 1 : 0) + 1;
        int n = Math.min(seqLen + 1, seq - blockStart[block]);
        readSequence(d, blockStart[block], tokens, 0, n);
        return n;
    }

    /** Tokens [from, from+len) of document d's sequence: [BOS] tokens EOS. */
    private void readSequence(int d, int from, int[] dst, int off, int len) {
        int docLen = corpus.documentLength(d);
        int b = addBos ? 1 : 0;
        int end = from + len;
        int p = from;
        if (b == 1 && p == 0 && p < end) {
            dst[off++] = bos;
            p++;
        }
        int tokFrom = p - b;
        int tokTo = Math.min(end - b, docLen);
        if (tokTo > tokFrom) {
            corpus.read(d, tokFrom, dst, off, tokTo - tokFrom);
            off += tokTo - tokFrom;
            p += tokTo - tokFrom;
        }
        if (p < end) {
            dst[off] = eos;
        }
    }

    // ------------------------------------------------------------------------------------------------- iteration

    @Override
    public boolean hasNext() {
        long left = numBlocks - cursor;
        return dropLast ? left >= batchSize : left > 0;
    }

    @Override
    public DataSet next() {
        return next(batchSize);
    }

    @Override
    public DataSet next(int num) {
        if (!hasNext()) {
            throw new NoSuchElementException("epoch " + epoch + " is done (" + numBlocks + " blocks); call reset()");
        }
        int b = (int) Math.min(num, numBlocks - cursor);
        int[] feat = new int[b * seqLen];
        int[] lab = new int[b * seqLen];
        float[] fmask = new float[b * seqLen];
        float[] lmask = new float[b * seqLen];
        int[] tokens = new int[seqLen + 1];
        for (int r = 0; r < b; r++) {
            int block = order == null ? (int) cursor : order[(int) cursor];
            cursor++;
            int n = fillBlock(block, tokens);
            int o = r * seqLen;
            for (int t = 0; t < seqLen; t++) {
                boolean real = t < n;
                boolean hasLabel = t + 1 < n;
                feat[o + t] = real ? tokens[t] : pad;
                fmask[o + t] = real ? 1f : 0f;
                lab[o + t] = hasLabel ? tokens[t + 1] : pad;
                lmask[o + t] = hasLabel ? 1f : 0f;
            }
        }
        long[] shape = {b, seqLen};
        INDArray f = idArray(feat, shape);
        INDArray l = idArray(lab, shape);
        DataSet ds = new DataSet(f, l, Nd4j.create(fmask, shape, 'c'), Nd4j.create(lmask, shape, 'c'));
        if (preProcessor != null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    private INDArray idArray(int[] v, long[] shape) {
        INDArray a = Nd4j.createFromArray(v).reshape('c', shape);
        return idType == DataType.INT32 ? a : a.castTo(idType);
    }

    @Override
    public int inputColumns() {
        return seqLen;
    }

    @Override
    public int totalOutcomes() {
        return vocabSize;
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    /** False: an asynchronous prefetching wrapper would read ahead of {@link #state()}. */
    @Override
    public boolean asyncSupported() {
        return false;
    }

    /** Starts the next epoch (new shuffle); a no-op while nothing of the current epoch has been read. */
    @Override
    public void reset() {
        if (cursor > 0) {
            setEpoch(epoch + 1);
        }
    }

    @Override
    public int batch() {
        return batchSize;
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        return null;
    }

    /** This iterator as a {@link MultiDataSetIterator} (one input: ids, one output: next ids, with masks). */
    public MultiDataSetIterator asMultiDataSetIterator() {
        return new MultiDataSetIteratorAdapter(this);
    }

    @Override
    public String toString() {
        return "TokenBlockIterator(" + corpus.name() + ", " + mode + ", seq_len " + seqLen + ", batch " + batchSize + ", "
                + numBlocks + " blocks, epoch " + epoch + ", cursor " + cursor + ")";
    }

    // ------------------------------------------------------------------------------------------------- builder

    public static final class Builder {
        private final TokenizedCorpus corpus;
        private int[] documents;
        private int seqLen = 512;
        private int batchSize = 8;
        private BlockMode mode = BlockMode.CONCATENATED;
        private boolean addBos;
        private int bos = -1;
        private int eos = -1;
        private int pad = -1;
        private int vocabSize = -1;
        private boolean shuffle = true;
        private long seed = 42;
        private boolean dropLast;
        private DataType idType = DataType.INT32;
        private int minDocumentTokens = 1;

        private Builder(TokenizedCorpus corpus) {
            this.corpus = corpus;
        }

        /** BOS, EOS, PAD and vocabulary size from the tokenizer that made the corpus. */
        public Builder tokenizer(Tokenizer t) {
            if (!t.fingerprint().equals(corpus.tokenizerFingerprint())) {
                throw new IllegalArgumentException("corpus " + corpus.name() + " was tokenized by " + corpus.tokenizerFingerprint()
                        + ", not by " + t + " (" + t.fingerprint() + ")");
            }
            this.bos = t.bosId();
            this.eos = t.eosId();
            this.pad = t.padId();
            this.vocabSize = t.vocabSize();
            return this;
        }

        public Builder specialTokens(int bos, int eos, int pad, int vocabSize) {
            this.bos = bos;
            this.eos = eos;
            this.pad = pad;
            this.vocabSize = vocabSize;
            return this;
        }

        /** Only these documents (indices into the corpus), e.g. one side of {@link TokenizedCorpus#split}. */
        public Builder documents(int[] documentIndices) {
            this.documents = documentIndices;
            return this;
        }

        public Builder seqLen(int seqLen) {
            this.seqLen = seqLen;
            return this;
        }

        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        public Builder mode(BlockMode mode) {
            this.mode = mode;
            return this;
        }

        /** Put BOS before every document (default false: EOS between documents only). */
        public Builder addBos(boolean addBos) {
            this.addBos = addBos;
            return this;
        }

        public Builder shuffle(boolean shuffle) {
            this.shuffle = shuffle;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Leave out an epoch's last batch when it has fewer than batchSize blocks (default false). */
        public Builder dropLast(boolean dropLast) {
            this.dropLast = dropLast;
            return this;
        }

        /** Data type of features and labels: INT32 (default), INT64, FLOAT or DOUBLE. */
        public Builder idType(DataType idType) {
            this.idType = idType;
            return this;
        }

        /** Documents with fewer tokens are skipped and counted in the log (default 1). */
        public Builder minDocumentTokens(int min) {
            this.minDocumentTokens = min;
            return this;
        }

        public TokenBlockIterator build() {
            if (seqLen < 1 || batchSize < 1) {
                throw new IllegalArgumentException("seq_len and batch size must be positive, got " + seqLen + " and " + batchSize);
            }
            if (eos < 0 || pad < 0 || vocabSize < 1 || (addBos && bos < 0)) {
                throw new IllegalArgumentException("special tokens not set: call tokenizer(...) or specialTokens(...)");
            }
            if (!(idType == DataType.INT32 || idType == DataType.INT64 || idType == DataType.FLOAT || idType == DataType.DOUBLE)) {
                throw new IllegalArgumentException("id type must be INT32, INT64, FLOAT or DOUBLE, got " + idType);
            }
            return new TokenBlockIterator(this);
        }
    }
}
