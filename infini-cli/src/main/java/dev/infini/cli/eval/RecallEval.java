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

    /**
     * What the samples of one gap gave.
     *
     * @param rightByQuery values recalled at each query position (the i-th key asked in the queries segment)
     * @param askedByQuery values asked at each query position
     * @param namedStored  answers that name one of the sample's stored values, right or wrong
     * @param unaskedGuess expected right answers of a model that knows the stored values but not their keys and names,
     *                     at each query, one of the values not yet asked, uniformly (repeats counted): the accuracy that
     *                     reading the memory without binding keys to values reaches ({@link #unaskedGuess(byte[])})
     */
    public record Result(long[] rightByQuery, long[] askedByQuery, long namedStored, double unaskedGuess) {
        public long right() {
            return Arrays.stream(rightByQuery).sum();
        }

        public long asked() {
            return Arrays.stream(askedByQuery).sum();
        }

        public double accuracy() {
            return (double) right() / asked();
        }

        /** Accuracy at query position {@code i} (0-based). */
        public double accuracy(int i) {
            return (double) rightByQuery[i] / askedByQuery[i];
        }

        /** Share of answers that name a stored value. */
        public double storedRate() {
            return (double) namedStored / asked();
        }

        /** {@link #unaskedGuess} as a share of the values asked. */
        public double unaskedGuessRate() {
            return unaskedGuess / asked();
        }

        Result plus(Result o) {
            long[] r = rightByQuery.clone(), a = askedByQuery.clone();
            for (int i = 0; i < r.length; i++) {
                r[i] += o.rightByQuery[i];
                a[i] += o.askedByQuery[i];
            }
            return new Result(r, a, namedStored + o.namedStored, unaskedGuess + o.unaskedGuess);
        }
    }

    /** Values recalled correctly and values asked, at one gap, over {@code trials} samples. */
    public long[] accuracy(int gap, int trials, MemoryMode mode) {
        Result r = evaluate(gap, trials, mode);
        return new long[] {r.right(), r.asked()};
    }

    /** Accuracy per query position and the no-binding baseline, at one gap, over {@code trials} samples. */
    public Result evaluate(int gap, int trials, MemoryMode mode) {
        Result total = new Result(new long[pairs], new long[pairs], 0, 0);
        for (int start = 0; start < trials; start += batch) {
            int b = Math.min(batch, trials - start);
            RecallSample[] s = new RecallSample[b];
            for (int i = 0; i < b; i++) {
                s[i] = sample(gap, start + i);
            }
            total = total.plus(score(s, logits(s, mode, gap, start)));
        }
        return total;
    }

    /**
     * Scores teacher-forced logits {@code [B, T, V]} of samples {@code s}: the answer to the i-th query is the argmax
     * at the key before {@code s[r].valuePositions()[i]}.
     */
    public static Result score(RecallSample[] s, INDArray logits) {
        int n = s[0].values().length;
        long[] right = new long[n], asked = new long[n];
        long stored = 0;
        double guess = 0;
        for (int r = 0; r < s.length; r++) {
            byte[] values = s[r].values();
            if (values.length != n) {
                throw new IllegalArgumentException("samples of one batch must have the same number of pairs, got "
                        + n + " and " + values.length);
            }
            for (int i = 0; i < n; i++) {
                int p = s[r].valuePositions()[i];
                INDArray row = logits.get(NDArrayIndex.point(r), NDArrayIndex.point(p - 1), NDArrayIndex.all());
                int answer = Nd4j.argMax(row).getInt(0);
                asked[i]++;
                if (answer == s[r].ids()[p]) {
                    right[i]++;
                }
                for (byte v : values) {
                    if (answer == v) {
                        stored++;
                        break;
                    }
                }
            }
            guess += unaskedGuess(values) * n;
        }
        return new Result(right, asked, stored, guess);
    }

    /**
     * Expected accuracy, over the queries of one sample (values in the order asked), of naming at each query one of
     * the values not yet asked, uniformly with repeats: for query i, the share of {@code values[i..n-1]} equal to
     * {@code values[i]}. With n distinct values this is H(n)/n: 52.1% for 4, 34.0% for 8.
     */
    public static double unaskedGuess(byte[] values) {
        int n = values.length;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            int same = 0;
            for (int j = i; j < n; j++) {
                same += values[j] == values[i] ? 1 : 0;
            }
            sum += (double) same / (n - i);
        }
        return sum / n;
    }

    private INDArray logits(RecallSample[] s, MemoryMode mode, int gap, int start) {
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
        return new SegmentRunner(model).run(ids, null, mode, donor, null).logits();   // [B, T, V]
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
