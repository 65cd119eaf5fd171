package dev.infini.datasets.passkey;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import dev.infini.datasets.pipeline.CursorIterator;
import org.nd4j.linalg.factory.Nd4j;

import java.util.NoSuchElementException;
import java.util.Random;

/**
 * Passkey examples for training or evaluation, in the layout of
 * {@link dev.infini.datasets.pipeline.TokenBlockIterator}: features = prompt + answer ids {@code [batch, seq_len]}
 * (INT32), labels = next-token ids, features mask 1 on real tokens, labels mask 1 where the next token is an
 * answer token and {@code promptWeight} where it is a prompt token (0: the loss is the retrieval loss alone; 1:
 * every token counts the same). {@code seq_len} = prompt length + the
 * longest answer; shorter answers are padded. Sample {@code i} is drawn from {@code (seed, i)}: its key, and its
 * depth (uniform in [minDepth, maxDepth]).
 */
public final class PasskeyIterator extends CursorIterator {
    private static final long serialVersionUID = 1L;

    private final transient PasskeyTask task;
    private final int promptLength;
    private final int numSamples;
    private final int batchSize;
    private final double minDepth;
    private final double maxDepth;
    private final long seed;
    private final double promptWeight;
    private final int seqLen;

    public PasskeyIterator(PasskeyTask task, int promptLength, int numSamples, int batchSize, double minDepth, double maxDepth,
                           long seed, boolean answerOnly) {
        this(task, promptLength, numSamples, batchSize, minDepth, maxDepth, seed, answerOnly ? 0.0 : 1.0);
    }

    /** @param promptWeight label-mask weight of prompt tokens, in [0, 1]; answer tokens weigh 1 */
    public PasskeyIterator(PasskeyTask task, int promptLength, int numSamples, int batchSize, double minDepth, double maxDepth,
                           long seed, double promptWeight) {
        super(numSamples);
        if (numSamples < 1 || batchSize < 1) {
            throw new IllegalArgumentException("numSamples and batchSize must be positive, got " + numSamples + ", " + batchSize);
        }
        if (!(0 <= minDepth && minDepth <= maxDepth && maxDepth <= 1)) {
            throw new IllegalArgumentException("depths must satisfy 0 <= min <= max <= 1, got " + minDepth + ", " + maxDepth);
        }
        if (!(promptWeight >= 0 && promptWeight <= 1)) {
            throw new IllegalArgumentException("the prompt weight must be in [0, 1], got " + promptWeight);
        }
        if (promptLength < task.minLength()) {
            throw new IllegalArgumentException("prompt length " + promptLength + " is below the minimum " + task.minLength());
        }
        this.task = task;
        this.promptLength = promptLength;
        this.numSamples = numSamples;
        this.batchSize = batchSize;
        this.minDepth = minDepth;
        this.maxDepth = maxDepth;
        this.seed = seed;
        this.promptWeight = promptWeight;
        this.seqLen = promptLength + task.maxAnswerLength();
    }

    /** Sample {@code i} of this iterator (deterministic). */
    public PasskeySample sample(int i) {
        Random r = new Random(seed * 1_000_003L + i);
        double depth = minDepth + (maxDepth - minDepth) * r.nextDouble();
        return task.sample(promptLength, depth, PasskeyTask.passkey(r.nextLong()));
    }

    public int seqLen() {
        return seqLen;
    }




    @Override
    public DataSet next() {
        return next(batchSize);
    }

    @Override
    public DataSet next(int num) {
        if (!hasNext()) {
            throw new NoSuchElementException("all " + numSamples + " passkey samples returned; call reset()");
        }
        int b = Math.min(num, numSamples - cursor);
        int pad = task.tokenizer().padId();
        int[] feat = new int[b * seqLen];
        int[] lab = new int[b * seqLen];
        float[] fm = new float[b * seqLen];
        float[] lm = new float[b * seqLen];
        for (int r = 0; r < b; r++) {
            PasskeySample s = sample(cursor++);
            int[] ids = s.trainingIds();
            int n = ids.length;
            int o = r * seqLen;
            for (int t = 0; t < seqLen; t++) {
                boolean real = t < n;
                boolean hasLabel = t + 1 < n;
                feat[o + t] = real ? ids[t] : pad;
                fm[o + t] = real ? 1f : 0f;
                lab[o + t] = hasLabel ? ids[t + 1] : pad;
                boolean answer = t + 1 >= s.promptIds().length;
                lm[o + t] = !hasLabel ? 0f : answer ? 1f : (float) promptWeight;
            }
        }
        long[] shape = {b, seqLen};
        INDArray f = Nd4j.createFromArray(feat).reshape('c', shape);
        INDArray l = Nd4j.createFromArray(lab).reshape('c', shape);
        return preProcessed(new DataSet(f, l, Nd4j.create(fm, shape, 'c'), Nd4j.create(lm, shape, 'c')));
    }

    @Override
    public int inputColumns() {
        return seqLen;
    }

    @Override
    public int totalOutcomes() {
        return task.tokenizer().vocabSize();
    }




    @Override
    public int batch() {
        return batchSize;
    }



}
