package dev.infini.datasets.recall;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import dev.infini.datasets.pipeline.CursorIterator;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.NoSuchElementException;
import java.util.Random;

/**
 * Associative-recall batches ({@link RecallTask}) in the layout of the token pipeline: features = the sample's ids
 * {@code [batch, (gap + 2) x S]} (INT32), labels = the next ids, features mask all ones, labels mask 1 exactly where
 * the next token is a value byte of the queries segment (the answer-only loss) and 0 elsewhere. All samples of a
 * batch share one gap, drawn uniformly from {@code gaps} (so batches of different gaps have different lengths);
 * each sample draws its number of pairs uniformly from {@code [minPairs, maxPairs]}. Batch {@code i} is a function
 * of {@code (seed, i)} alone.
 */
public final class RecallIterator extends CursorIterator {
    private static final long serialVersionUID = 1L;

    private final RecallTask task;
    private final int minPairs;
    private final int maxPairs;
    private final int[] gaps;
    private final int numBatches;
    private final int batchSize;
    private final long seed;

    public RecallIterator(RecallTask task, int minPairs, int maxPairs, int[] gaps, int numBatches, int batchSize, long seed) {
        super(numBatches);
        if (!(1 <= minPairs && minPairs <= maxPairs && maxPairs <= task.maxPairs())) {
            throw new IllegalArgumentException("pairs must satisfy 1 <= min <= max <= " + task.maxPairs() + " (segment "
                    + task.segment() + "), got " + minPairs + "-" + maxPairs);
        }
        if (gaps.length == 0 || Arrays.stream(gaps).anyMatch(g -> g < 0)) {
            throw new IllegalArgumentException("gaps must be a non-empty list of numbers >= 0, got " + Arrays.toString(gaps));
        }
        if (numBatches < 1 || batchSize < 1) {
            throw new IllegalArgumentException("numBatches and batchSize must be positive, got " + numBatches + ", " + batchSize);
        }
        this.task = task;
        this.minPairs = minPairs;
        this.maxPairs = maxPairs;
        this.gaps = gaps.clone();
        this.numBatches = numBatches;
        this.batchSize = batchSize;
        this.seed = seed;
    }

    /** The samples of batch {@code i} (deterministic). */
    public RecallSample[] samples(int i) {
        Random r = new Random(seed * 1_000_003L + i);
        int gap = gaps[r.nextInt(gaps.length)];
        RecallSample[] out = new RecallSample[batchSize];
        for (int j = 0; j < batchSize; j++) {
            int pairs = minPairs + r.nextInt(maxPairs - minPairs + 1);
            out[j] = task.sample(pairs, gap, new Random(r.nextLong()));
        }
        return out;
    }

    /** The batch of {@code samples} (one gap) as a DataSet with the answer-only label mask. */
    public static DataSet toDataSet(RecallSample[] samples) {
        int b = samples.length, n = samples[0].ids().length;
        int[] feat = new int[b * n];
        int[] lab = new int[b * n];
        float[] lm = new float[b * n];
        for (int r = 0; r < b; r++) {
            int[] ids = samples[r].ids();
            if (ids.length != n) {
                throw new IllegalArgumentException("samples of one batch must have one length, got " + n + " and " + ids.length);
            }
            int o = r * n;
            System.arraycopy(ids, 0, feat, o, n);
            System.arraycopy(ids, 1, lab, o, n - 1);
            lab[o + n - 1] = ids[n - 1];
            for (int p : samples[r].valuePositions()) {
                lm[o + p - 1] = 1f;
            }
        }
        long[] shape = {b, n};
        return new DataSet(Nd4j.createFromArray(feat).reshape('c', shape), Nd4j.createFromArray(lab).reshape('c', shape),
                Nd4j.ones(shape), Nd4j.create(lm, shape, 'c'));
    }




    @Override
    public DataSet next() {
        if (!hasNext()) {
            throw new NoSuchElementException("all " + numBatches + " recall batches returned; call reset()");
        }
        return preProcessed(toDataSet(samples(cursor++)));
    }

    /** One batch of this iterator's batch size; {@code num} is not honoured (a batch is one gap). */
    @Override
    public DataSet next(int num) {
        return next();
    }

    @Override
    public int inputColumns() {
        return task.length(Arrays.stream(gaps).max().orElse(0));
    }

    @Override
    public int totalOutcomes() {
        return 256;
    }




    @Override
    public int batch() {
        return batchSize;
    }



}
