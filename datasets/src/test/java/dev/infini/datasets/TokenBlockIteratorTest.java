package dev.infini.datasets;

import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.pipeline.BlockMode;
import dev.infini.datasets.pipeline.IteratorState;
import dev.infini.datasets.pipeline.TokenBatches;
import dev.infini.datasets.pipeline.TokenBlockIterator;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.datasets.tokenize.HfTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Token block iterator: layout, modes, shuffling, splits, reset and resume")
class TokenBlockIteratorTest {
    private static final ByteTokenizer BYTES = new ByteTokenizer();
    private static TokenizedCorpus chapters;

    @BeforeAll
    static void tokenize() {
        chapters = TokenizedCorpus.tokenize(Corpus.mobyDickChapters(), BYTES);
    }

    /** A small corpus of documents with known tokens: doc i has length lens[i], tokens 10*i+1, 10*i+2, ... (mod 256). */
    private static TokenizedCorpus synthetic(int... lens) {
        List<int[]> docs = new ArrayList<>();
        for (int i = 0; i < lens.length; i++) {
            int base = 10 * i;
            docs.add(IntStream.range(0, lens[i]).map(t -> (base + t + 1) % 256).toArray());
        }
        return TokenizedCorpus.of("synthetic", BYTES.fingerprint(), docs);
    }

    private static int[] row(INDArray a, int r) {
        return a.getRow(r).toIntVector();
    }

    private static float[] rowF(INDArray a, int r) {
        return a.getRow(r).toFloatVector();
    }

    private static List<DataSet> drain(TokenBlockIterator it) {
        List<DataSet> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(it.next());
        }
        return out;
    }

    @Test
    @DisplayName("layout: int32 ids [batch, seq_len], labels are the next tokens, masks are float 1/0")
    void layout() {
        TokenBlockIterator it = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(64).batchSize(4).seed(1).build();
        DataSet ds = it.next();
        assertArrayEquals(new long[] {4, 64}, ds.getFeatures().shape());
        assertArrayEquals(new long[] {4, 64}, ds.getLabels().shape());
        assertArrayEquals(new long[] {4, 64}, ds.getFeaturesMaskArray().shape());
        assertArrayEquals(new long[] {4, 64}, ds.getLabelsMaskArray().shape());
        assertEquals(DataType.INT32, ds.getFeatures().dataType());
        assertEquals(DataType.INT32, ds.getLabels().dataType());
        assertEquals(DataType.FLOAT, ds.getFeaturesMaskArray().dataType());
        for (int r = 0; r < 4; r++) {
            int[] f = row(ds.getFeatures(), r);
            int[] l = row(ds.getLabels(), r);
            for (int t = 0; t + 1 < 64; t++) {
                assertEquals(f[t + 1], l[t], "label at t is the token at t+1");
            }
        }
        assertEquals(260, it.totalOutcomes());
        assertEquals(64, it.inputColumns());
    }

    @Test
    @DisplayName("concatenated mode: unshuffled blocks are the documents joined with EOS; the last block is padded and masked")
    void concatenated() {
        TokenizedCorpus c = synthetic(5, 3, 7);
        TokenBlockIterator it = TokenBlockIterator.builder(c).tokenizer(BYTES).seqLen(4).batchSize(2).shuffle(false).build();
        // stream: 1..5 EOS 11 12 13 EOS 21..27 EOS = 18 tokens -> ceil(17 / 4) = 5 blocks
        int E = ByteTokenizer.EOS;
        int[] stream = {1, 2, 3, 4, 5, E, 11, 12, 13, E, 21, 22, 23, 24, 25, 26, 27, E};
        assertEquals(5, it.numBlocks());
        assertEquals(3, it.numBatches());
        List<DataSet> batches = drain(it);
        assertEquals(3, batches.size());
        assertEquals(1, batches.get(2).getFeatures().size(0), "the last batch is smaller");
        List<Integer> feats = new ArrayList<>();
        for (DataSet ds : batches) {
            for (int r = 0; r < ds.getFeatures().size(0); r++) {
                int[] f = row(ds.getFeatures(), r);
                float[] m = rowF(ds.getFeaturesMaskArray(), r);
                for (int t = 0; t < 4; t++) {
                    if (m[t] == 1f) {
                        feats.add(f[t]);
                    }
                }
            }
        }
        assertEquals(Arrays.stream(stream).boxed().toList().subList(0, 18), feats);
        DataSet last = batches.get(2);
        assertArrayEquals(new int[] {27, E, 258, 258}, row(last.getFeatures(), 0), "stream positions 16 and 17, then padding");
        assertArrayEquals(new int[] {E, 258, 258, 258}, row(last.getLabels(), 0));
        assertArrayEquals(new float[] {1, 1, 0, 0}, rowF(last.getFeaturesMaskArray(), 0));
        assertArrayEquals(new float[] {1, 0, 0, 0}, rowF(last.getLabelsMaskArray(), 0), "the final EOS has no next token");
        // the label of a block's last position is the first token of the next block
        assertEquals(5, row(batches.get(0).getLabels(), 0)[3]);
        assertEquals(1f, rowF(batches.get(0).getLabelsMaskArray(), 0)[3]);
    }

    @Test
    @DisplayName("per-document mode: one document per block, padded with mask 0; long documents take several blocks")
    void perDocument() {
        TokenizedCorpus c = synthetic(2, 9);
        TokenBlockIterator it = TokenBlockIterator.builder(c).tokenizer(BYTES).mode(BlockMode.PER_DOCUMENT).addBos(true)
                .seqLen(4).batchSize(8).shuffle(false).build();
        int B = 256, E = 257, P = 258;
        // doc 0: BOS 1 2 EOS (4 tokens, 1 block); doc 1: BOS 11..19 EOS (11 tokens, ceil(10/4) = 3 blocks)
        assertEquals(4, it.numBlocks());
        DataSet ds = it.next();
        assertArrayEquals(new int[] {B, 1, 2, E}, row(ds.getFeatures(), 0));
        assertArrayEquals(new int[] {1, 2, E, P}, row(ds.getLabels(), 0));
        assertArrayEquals(new float[] {1, 1, 1, 0}, rowF(ds.getLabelsMaskArray(), 0), "a document's EOS has no label");
        assertArrayEquals(new int[] {B, 11, 12, 13}, row(ds.getFeatures(), 1));
        assertArrayEquals(new float[] {1, 1, 1, 1}, rowF(ds.getLabelsMaskArray(), 1), "the next block continues the document");
        assertEquals(14, row(ds.getLabels(), 1)[3]);
        assertArrayEquals(new int[] {18, 19, E, P}, row(ds.getFeatures(), 3));
        assertArrayEquals(new float[] {1, 1, 1, 0}, rowF(ds.getFeaturesMaskArray(), 3));
        assertArrayEquals(new float[] {1, 1, 0, 0}, rowF(ds.getLabelsMaskArray(), 3));
        assertFalse(it.hasNext());
    }

    @Test
    @DisplayName("documents shorter than a block are padded (per-document) or skipped and counted with minDocumentTokens")
    void shortDocuments() {
        TokenizedCorpus c = synthetic(3, 50, 2);
        TokenBlockIterator padded = TokenBlockIterator.builder(c).tokenizer(BYTES).mode(BlockMode.PER_DOCUMENT).seqLen(16)
                .batchSize(8).shuffle(false).build();
        assertEquals(1 + 4 + 1, padded.numBlocks());
        TokenBlockIterator skipping = TokenBlockIterator.builder(c).tokenizer(BYTES).mode(BlockMode.PER_DOCUMENT).seqLen(16)
                .batchSize(8).minDocumentTokens(16).shuffle(false).build();
        assertEquals(4, skipping.numBlocks());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TokenBlockIterator.builder(c)
                .tokenizer(BYTES).minDocumentTokens(100).build());
        assertTrue(e.getMessage().contains("synthetic") && e.getMessage().contains("100"), e.getMessage());
    }

    @Test
    @DisplayName("shuffling is deterministic by seed and every block appears exactly once per epoch")
    void shuffleDeterministic() {
        TokenBlockIterator a = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(2048).batchSize(8).seed(7).build();
        TokenBlockIterator b = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(2048).batchSize(8).seed(7).build();
        TokenBlockIterator other = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(2048).batchSize(8).seed(8).build();
        assertEquals(a.next().getFeatures(), b.next().getFeatures());
        assertNotEquals(a.next().getFeatures(), other.next().getFeatures());
        TokenBlockIterator shuffled = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(2048).batchSize(8).seed(3).build();
        TokenBlockIterator ordered = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(2048).batchSize(8).shuffle(false).build();
        assertEquals(blockSet(ordered), blockSet(shuffled), "same blocks, another order");
    }

    private static Set<String> blockSet(TokenBlockIterator it) {
        Set<String> s = new HashSet<>();
        for (DataSet ds : drain(it)) {
            for (int r = 0; r < ds.getFeatures().size(0); r++) {
                s.add(Arrays.toString(row(ds.getFeatures(), r)));
            }
        }
        assertEquals(it.numBlocks(), s.size());
        return s;
    }

    @Test
    @DisplayName("reset() starts a new epoch with every block again; reset() before reading anything changes nothing")
    void reset() {
        TokenBlockIterator it = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(4096).batchSize(16).seed(5).build();
        it.reset();
        assertEquals(0, it.epoch());
        Set<String> first = blockSet(it);
        it.reset();
        assertEquals(1, it.epoch());
        Set<String> second = blockSet(it);
        assertEquals(first, second);
        TokenBlockIterator plain = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(4096).batchSize(16).shuffle(false).build();
        INDArray f0 = plain.next().getFeatures();
        drain(plain);
        plain.reset();
        assertEquals(f0, plain.next().getFeatures(), "without shuffling every epoch is the same");
    }

    @Test
    @DisplayName("resume: state saved mid-epoch and restored in a new iterator yields the same batches as an uninterrupted pass")
    void resume() {
        TokenBlockIterator.Builder b = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(1024).batchSize(16).seed(11);
        TokenBlockIterator full = b.build();
        List<INDArray> reference = new ArrayList<>();
        for (int epoch = 0; epoch < 2; epoch++) {
            for (DataSet ds : drain(full)) {
                reference.add(ds.getFeatures());
            }
            full.reset();
        }
        int perEpoch = (int) full.numBatches();
        int stopAfter = perEpoch + 7; // in the middle of the second epoch
        TokenBlockIterator first = b.build();
        List<INDArray> resumed = new ArrayList<>();
        int n = 0;
        while (n < stopAfter) {
            if (!first.hasNext()) {
                first.reset();
            }
            resumed.add(first.next().getFeatures());
            n++;
        }
        String saved = first.state().encode();
        TokenBlockIterator second = b.build();
        second.restore(IteratorState.decode(saved));
        while (resumed.size() < reference.size()) {
            if (!second.hasNext()) {
                second.reset();
            }
            resumed.add(second.next().getFeatures());
        }
        assertEquals(reference.size(), resumed.size());
        for (int i = 0; i < reference.size(); i++) {
            assertEquals(reference.get(i), resumed.get(i), "batch " + i);
        }
    }

    @Test
    @DisplayName("a state from another block plan (other seq_len) is refused with a clear error; a garbled state too")
    void restoreMismatch() {
        TokenBlockIterator a = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(512).batchSize(4).build();
        TokenBlockIterator b = TokenBlockIterator.builder(chapters).tokenizer(BYTES).seqLen(256).batchSize(4).build();
        a.next();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.restore(a.state()));
        assertTrue(e.getMessage().contains("another block plan"), e.getMessage());
        IllegalArgumentException g = assertThrows(IllegalArgumentException.class, () -> IteratorState.decode("epoch 3"));
        assertTrue(g.getMessage().contains("epoch 3"), g.getMessage());
    }

    @Test
    @DisplayName("train/validation split by document: disjoint, complete, seeded; blocks of each side come from its documents")
    void splitByDocument() {
        TokenizedCorpus.DocumentSplit s = chapters.split(0.1, 3);
        assertEquals(chapters.numDocuments(), s.train().length + s.validation().length);
        Set<Integer> val = new HashSet<>();
        for (int v : s.validation()) {
            val.add(v);
        }
        for (int t : s.train()) {
            assertFalse(val.contains(t));
        }
        assertArrayEquals(s.validation(), chapters.split(0.1, 3).validation());
        assertFalse(Arrays.equals(s.validation(), chapters.split(0.1, 4).validation()));
        TokenBlockIterator valIt = TokenBlockIterator.builder(chapters).tokenizer(BYTES).documents(s.validation())
                .mode(BlockMode.PER_DOCUMENT).seqLen(8192).batchSize(4).shuffle(false).build();
        DataSet ds = valIt.next();
        int[] firstBlock = row(ds.getFeatures(), 0);
        int[] doc = chapters.document(s.validation()[0]);
        assertArrayEquals(Arrays.copyOf(doc, 100), Arrays.copyOf(firstBlock, 100));

        TokenizedCorpus one = TokenizedCorpus.tokenize(Corpus.mobyDick(), BYTES);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> one.split(0.1, 1));
        assertTrue(e.getMessage().contains("moby-dick") && e.getMessage().contains("1 document"), e.getMessage());
    }

    @Test
    @DisplayName("both bundled corpora and a user folder tokenize and batch with the byte tokenizer, every token once")
    void bundledAndUserCorporaBatch(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("one.txt"), "A user's first document.");
        Files.writeString(dir.resolve("two.txt"), "And a second one, a little longer than the first.");
        for (Corpus corpus : List.of(Corpus.mobyDick(), Corpus.stateOfTheUnion(), Corpus.fromPath(dir))) {
            TokenizedCorpus c = TokenizedCorpus.tokenize(corpus, BYTES);
            TokenBlockIterator it = TokenBlockIterator.builder(c).tokenizer(BYTES).seqLen(2048).batchSize(32).build();
            long real = 0;
            long batches = 0;
            while (it.hasNext()) {
                real += it.next().getFeaturesMaskArray().sumNumber().longValue();
                batches++;
            }
            assertEquals(it.numBatches(), batches);
            assertEquals(c.numTokens() + c.numDocuments(), real, corpus.name() + ": every token plus one EOS per document");
        }
    }

    @Test
    @DisplayName("the Mistral tokenizer feeds the same pipeline: ids < 32000, EOS = 2 between documents, decodes to the text")
    void hfPipeline() {
        HfTokenizer mistral = Fixtures.mistral();
        TokenizedCorpus c = TokenizedCorpus.tokenize(Corpus.mobyDickChapters(), mistral);
        assertEquals(chapters.numDocuments(), c.numDocuments());
        assertTrue(mistral.decode(c.document(0)).startsWith("CHAPTER 1. Loomings."), mistral.decode(Arrays.copyOf(c.document(0), 10)));
        assertTrue(mistral.decode(c.document(1)).startsWith("CHAPTER 2. The Carpet-Bag."), mistral.decode(Arrays.copyOf(c.document(1), 10)));
        TokenBlockIterator it = TokenBlockIterator.builder(c).tokenizer(mistral).seqLen(8192).batchSize(2).shuffle(false).build();
        DataSet ds = it.next();
        assertTrue(ds.getFeatures().maxNumber().intValue() < 32000);
        int len0 = c.documentLength(0);
        assertTrue(len0 < 8191, "chapter 1 has " + len0 + " tokens");
        assertEquals(2, ds.getFeatures().getInt(0, len0), "EOS after the first document");
        assertEquals(c.document(1)[0], ds.getFeatures().getInt(0, len0 + 1), "then the second document");
        assertThrows(IllegalArgumentException.class, () -> TokenBlockIterator.builder(c).tokenizer(BYTES),
                "a tokenizer that did not make the corpus is refused");
    }

    @Test
    @DisplayName("float ids on request, a MultiDataSetIterator view, and one-hot labels with masked rows zero")
    void variants() {
        TokenizedCorpus c = synthetic(6);
        TokenBlockIterator it = TokenBlockIterator.builder(c).tokenizer(BYTES).seqLen(4).batchSize(2).shuffle(false)
                .idType(DataType.FLOAT).build();
        DataSet ds = it.next();
        assertEquals(DataType.FLOAT, ds.getFeatures().dataType());
        assertEquals(2.0, ds.getFeatures().getDouble(0, 1));
        INDArray oneHot = TokenBatches.oneHotLabels(ds.getLabels(), ds.getLabelsMaskArray(), 260, DataType.FLOAT);
        assertArrayEquals(new long[] {8, 260}, oneHot.shape());
        assertEquals(1.0, oneHot.getDouble(0, 2), "row 0: next token of 1 is 2");
        assertEquals(ds.getLabelsMaskArray().sumNumber().doubleValue(), oneHot.sumNumber().doubleValue());
        it.reset();
        MultiDataSetIterator m = it.asMultiDataSetIterator();
        MultiDataSet mds = m.next();
        assertEquals(ds.getFeatures(), mds.getFeatures(0));
        assertEquals(ds.getLabelsMaskArray(), mds.getLabelsMaskArray(0));
    }
}
