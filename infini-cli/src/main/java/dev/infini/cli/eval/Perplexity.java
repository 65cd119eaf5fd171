package dev.infini.cli.eval;

import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryMode;
import dev.infini.samediff.SegmentRunner;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.ArrayList;
import java.util.List;

/** Held-out text and its negative log-likelihood under a model, sequence by sequence with memory. */
public final class Perplexity {
    private Perplexity() {
    }

    /**
     * The held-out tokens: with several documents, the validation documents of {@code corpus.split(fraction, seed)}
     * joined with {@code eosId} after each; with one document, its last {@code fraction} of tokens.
     */
    public static int[] heldOut(TokenizedCorpus corpus, double fraction, long seed, int eosId) {
        if (!(fraction > 0 && fraction < 1)) {
            throw new IllegalArgumentException("the held-out fraction must be in (0, 1), got " + fraction);
        }
        if (corpus.numDocuments() == 1) {
            int len = corpus.documentLength(0);
            int n = (int) Math.max(2, Math.round(len * fraction));
            if (len < 2) {
                throw new IllegalArgumentException("corpus " + corpus.name() + " has fewer than 2 tokens");
            }
            int[] out = new int[Math.min(n, len)];
            corpus.read(0, len - out.length, out, 0, out.length);
            return out;
        }
        int[] docs = corpus.split(fraction, seed).validation();
        long total = 0;
        for (int d : docs) {
            total += corpus.documentLength(d) + 1;
        }
        int[] out = new int[Math.toIntExact(total)];
        int p = 0;
        for (int d : docs) {
            int len = corpus.documentLength(d);
            corpus.read(d, 0, out, p, len);
            p += len;
            out[p++] = eosId;
        }
        return out;
    }

    /** {@code stream} cut into sequences of {@code seqLen} (a shorter last one is dropped unless it is the only one). */
    public static List<int[]> sequences(int[] stream, int seqLen, int maxSequences) {
        List<int[]> out = new ArrayList<>();
        for (int start = 0; start + seqLen <= stream.length; start += seqLen) {
            if (maxSequences > 0 && out.size() >= maxSequences) {
                break;
            }
            int[] s = new int[seqLen];
            System.arraycopy(stream, start, s, 0, seqLen);
            out.add(s);
        }
        if (out.isEmpty() && stream.length >= 2) {
            out.add(stream.clone());
        }
        return out;
    }

    /**
     * Summed negative log-likelihood (nats) of tokens 1..n-1 of {@code ids} given the tokens before them, the
     * sequence run segment by segment from zero memory.
     */
    public static double sequenceNll(InfiniModel model, int[] ids, SegmentRunner.Listener listener) {
        double nll = 0;
        for (double v : tokenNll(model, ids, true, listener)) {
            nll += v;
        }
        return nll;
    }

    /**
     * Negative log-likelihood (nats) of each of tokens 1..n-1 of {@code ids} given the tokens before it (element t
     * is token t+1's), the sequence run segment by segment from zero memory.
     *
     * @param carryMemory true: with the memory passed from segment to segment, as the model is meant to run;
     *                    false: every segment starts from empty memory, so a token sees only its own segment
     *                    (what the memory is worth is the difference)
     */
    public static double[] tokenNll(InfiniModel model, int[] ids, boolean carryMemory, SegmentRunner.Listener listener) {
        return tokenNll(model, ids, carryMemory ? MemoryMode.ON : MemoryMode.OFF, null, listener);
    }

    /**
     * Negative log-likelihood (nats) of each of tokens 1..n-1 of {@code ids} (element t is token t+1's) with the
     * memory of {@code mode}; {@link MemoryMode#FOREIGN} reads, before each segment, the memory that {@code donor}
     * (another sequence of the same length) carries to that point.
     */
    public static double[] tokenNll(InfiniModel model, int[] ids, MemoryMode mode, int[] donor, SegmentRunner.Listener listener) {
        int n = ids.length, v = model.config().vocabSize();
        if (n < 2) {
            throw new IllegalArgumentException("a sequence needs at least 2 tokens to score, got " + n);
        }
        INDArray donorIds = donor == null ? null : Nd4j.createFromArray(donor).reshape(1, donor.length);
        INDArray logits = new SegmentRunner(model).run(Nd4j.createFromArray(ids).reshape(1, n), null, mode, donorIds, listener)
                .logits().reshape(n, v).castTo(DataType.DOUBLE);
        INDArray max = logits.max(true, 1);                                       // [n,1]
        INDArray lse = Transforms.log(Transforms.exp(logits.subColumnVector(max), false).sum(true, 1), false).addi(max);
        double[] out = new double[n - 1];
        for (int t = 0; t + 1 < n; t++) {
            out[t] = lse.getDouble(t, 0) - logits.getDouble(t, ids[t + 1]);
        }
        return out;
    }

    /**
     * Mean NLL per segment position over sequences of one length: element k is the mean over every sequence of the
     * NLL of the tokens predicted from positions in segment k ({@code nll[t]} is predicted at position t).
     */
    public static double[] perSegment(List<double[]> nllPerSequence, int segment) {
        int n = nllPerSequence.get(0).length;
        int segs = (n + segment - 1) / segment;
        double[] sum = new double[segs];
        long[] count = new long[segs];
        for (double[] nll : nllPerSequence) {
            for (int t = 0; t < nll.length; t++) {
                sum[t / segment] += nll[t];
                count[t / segment]++;
            }
        }
        for (int k = 0; k < segs; k++) {
            sum[k] /= Math.max(1, count[k]);
        }
        return sum;
    }
}
