package dev.infini.cli.eval;

import dev.infini.datasets.recall.RecallIterator;
import dev.infini.datasets.recall.RecallSample;
import dev.infini.datasets.recall.RecallTask;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryMode;
import dev.infini.samediff.SegmentRunner;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;
import java.util.Random;

/**
 * Associative-recall accuracy ({@link RecallTask}) of a model, teacher-forced: each sample runs segment by segment
 * and a value counts as recalled when the argmax of the logits at its key is the value byte. Samples are a
 * function of {@code (seed, gap, trial)}, so every memory mode and every model sees the same ones.
 */
public final class RecallEval {
    private final InfiniModel model;
    private final RecallTask task;
    private final int pairs;
    private final long seed;
    private final int batch;

    public RecallEval(InfiniModel model, int pairs, long seed, int batch) {
        this.model = model;
        this.task = new RecallTask(model.config().segmentSize());
        if (pairs < 1 || pairs > task.maxPairs()) {
            throw new IllegalArgumentException("--pairs must be in [1, " + task.maxPairs() + "] for segment "
                    + task.segment() + ", got " + pairs);
        }
        if (batch < 1) {
            throw new IllegalArgumentException("--batch must be positive, got " + batch);
        }
        this.pairs = pairs;
        this.seed = seed;
        this.batch = batch;
    }

    /** Sample {@code trial} at {@code gap}. */
    public RecallSample sample(int gap, int trial) {
        return task.sample(pairs, gap, new Random(seed * 1_000_003L + gap * 65_537L + trial));
    }

    /** Values recalled correctly and values asked, at one gap, over {@code trials} samples. */
    public long[] accuracy(int gap, int trials, MemoryMode mode) {
        long right = 0, asked = 0;
        for (int start = 0; start < trials; start += batch) {
            int b = Math.min(batch, trials - start);
            RecallSample[] s = new RecallSample[b];
            for (int i = 0; i < b; i++) {
                s[i] = sample(gap, start + i);
            }
            right += correct(s, mode, gap, start);
            asked += (long) b * pairs;
        }
        return new long[] {right, asked};
    }

    private long correct(RecallSample[] s, MemoryMode mode, int gap, int start) {
        INDArray ids = RecallIterator.toDataSet(s).getFeatures();
        INDArray donor = null;
        if (mode == MemoryMode.FOREIGN) {
            // Row i reads the memory of another sample: the next one in the batch, or one of another trial index.
            RecallSample[] d = new RecallSample[s.length];
            for (int i = 0; i < s.length; i++) {
                d[i] = s.length > 1 ? s[(i + 1) % s.length] : sample(gap, start + 1_000_000);
            }
            donor = RecallIterator.toDataSet(d).getFeatures();
        }
        INDArray logits = new SegmentRunner(model).run(ids, null, mode, donor, null).logits();   // [B, T, V]
        long right = 0;
        for (int r = 0; r < s.length; r++) {
            for (int p : s[r].valuePositions()) {
                INDArray row = logits.get(NDArrayIndex.point(r), NDArrayIndex.point(p - 1), NDArrayIndex.all());
                if (Nd4j.argMax(row).getInt(0) == s[r].ids()[p]) {
                    right++;
                }
            }
        }
        return right;
    }

    /** "0,1,2,4" as numbers >= 0. */
    public static int[] parseGaps(String s) {
        try {
            int[] g = Arrays.stream(s.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
            if (g.length == 0 || Arrays.stream(g).anyMatch(x -> x < 0)) {
                throw new NumberFormatException();
            }
            return g;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--gaps must be a comma-separated list of numbers >= 0, e.g. 0,1,2,4; got '" + s + "'");
        }
    }
}
