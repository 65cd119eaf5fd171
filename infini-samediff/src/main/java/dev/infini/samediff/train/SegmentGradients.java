package dev.infini.samediff.train;

import dev.infini.samediff.DecoderGraph;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.SegmentRunner;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Gradients of the summed next-token loss of a batch of long sequences, run segment by segment with
 * the memory passed on: the one place where training cuts sequences into segments.
 *
 * <p>{@link MemoryGradient#FULL}: a forward pass keeps only the memory entering each segment; the
 * backward pass goes through the segments in reverse, recomputing each one and feeding it the gradient
 * with respect to its output memory (the objective {@link DecoderGraph#LOSS}); the gradient with
 * respect to its input memory goes to the segment before. Peak memory is one segment's activations plus
 * the per-segment memory states. {@link MemoryGradient#TRUNCATED}: one pass, the memory entering each
 * segment is a constant.
 */
public final class SegmentGradients {
    private final InfiniModel model;
    private final int segmentSize;
    private long segmentsRun;

    public SegmentGradients(InfiniModel model, int segmentSize) {
        if (segmentSize <= 0) {
            throw new IllegalArgumentException("segment size must be positive, got " + segmentSize);
        }
        this.model = model;
        this.segmentSize = segmentSize;
    }

    /**
     * @param gradients     by parameter name, of the SUMMED loss (divide by {@link #tokens} for the mean)
     * @param nllSum        summed negative log-likelihood over counted positions
     * @param tokens        number of counted positions
     * @param memory        the memory after the last segment
     */
    public record Result(Map<String, INDArray> gradients, double nllSum, double tokens, MemoryState memory) {
        public double meanLoss() {
            return nllSum / Math.max(tokens, 1);
        }
    }

    public Result compute(TrainBatch batch, MemoryGradient mode) {
        return mode == MemoryGradient.FULL ? full(batch) : truncated(batch);
    }

    private Result truncated(TrainBatch batch) {
        int b = batch.batchSize();
        MemoryState state = model.zeroMemory(b);
        Map<String, INDArray> acc = new LinkedHashMap<>();
        double nll = 0;
        for (int[] se : SegmentRunner.segments(batch.length(), segmentSize)) {
            DecoderGraph g = model.graph(b, se[1] - se[0], true);
            Map<String, INDArray> ph = placeholders(g, batch, se, state, null);
            Map<String, INDArray> out = g.outputsAndGradients(ph, memoryOutputs(true), g.parameterNames());
            nll += out.get(DecoderGraph.NLL_SUM).getDouble(0);
            accumulate(acc, out, g.parameterNames());
            release(ph.get(DecoderGraph.LABELS));
            state = model.nextMemory(out);
            releaseSessionsEvery(++segmentsRun);
        }
        return new Result(acc, nll, batch.tokens(), state);
    }

    /** The summed loss of a batch without gradients (validation), memory carried across its segments. */
    public Result evaluate(TrainBatch batch) {
        return forward(batch, null);
    }

    /** Forward over all segments; records the memory entering each one in {@code entering} when not null. */
    private Result forward(TrainBatch batch, List<MemoryState> entering) {
        int b = batch.batchSize();
        MemoryState state = model.zeroMemory(b);
        double nll = 0;
        for (int[] se : SegmentRunner.segments(batch.length(), segmentSize)) {
            if (entering != null) {
                entering.add(state);
            }
            DecoderGraph g = model.graph(b, se[1] - se[0], true);
            Map<String, INDArray> ph = placeholders(g, batch, se, state, null);
            Map<String, INDArray> out = g.sameDiff().output(ph, memoryOutputs(true));
            release(ph.get(DecoderGraph.LABELS));
            nll += out.get(DecoderGraph.NLL_SUM).getDouble(0);
            state = model.nextMemory(out);
            releaseSessionsEvery(++segmentsRun);
        }
        return new Result(Map.of(), nll, batch.tokens(), state);
    }

    private Result full(TrainBatch batch) {
        int b = batch.batchSize();
        List<int[]> segs = SegmentRunner.segments(batch.length(), segmentSize);
        // Forward: keep only the memory entering each segment.
        List<MemoryState> entering = new ArrayList<>(segs.size());
        Result fwd = forward(batch, entering);
        double nll = fwd.nllSum();
        MemoryState state = fwd.memory();
        // Backward in reverse, recomputing each segment; dL/d(memory out) flows to the segment before.
        Map<String, INDArray> acc = new LinkedHashMap<>();
        Map<String, INDArray> upstream = null; // gradients w.r.t. the memory leaving the current segment
        int nl = model.config().numLayers();
        for (int k = segs.size() - 1; k >= 0; k--) {
            int[] se = segs.get(k);
            DecoderGraph g = model.graph(b, se[1] - se[0], true);
            Map<String, INDArray> ph = placeholders(g, batch, se, entering.get(k), upstream);
            List<String> wrt = new ArrayList<>(g.parameterNames());
            if (k > 0) {
                for (int i = 0; i < nl; i++) {
                    wrt.add(DecoderGraph.memoryM(i));
                    wrt.add(DecoderGraph.memoryZ(i));
                }
            }
            Map<String, INDArray> grads = g.outputsAndGradients(ph, List.of(), wrt);
            accumulate(acc, grads, g.parameterNames());
            release(ph.get(DecoderGraph.LABELS));
            if (upstream != null) {
                upstream.values().forEach(SegmentGradients::release);
            }
            releaseSessionsEvery(++segmentsRun);
            if (k > 0) {
                upstream = new HashMap<>();
                for (int i = 0; i < nl; i++) {
                    upstream.put(DecoderGraph.memoryMGrad(i), grads.get(DecoderGraph.memoryM(i)));
                    upstream.put(DecoderGraph.memoryZGrad(i), grads.get(DecoderGraph.memoryZ(i)));
                }
            }
        }
        return new Result(acc, nll, batch.tokens(), state);
    }

    private List<String> memoryOutputs(boolean withNll) {
        List<String> outs = new ArrayList<>();
        if (withNll) {
            outs.add(DecoderGraph.NLL_SUM);
        }
        for (int i = 0; i < model.config().numLayers(); i++) {
            outs.add(DecoderGraph.memoryMNext(i));
            outs.add(DecoderGraph.memoryZNext(i));
        }
        return outs;
    }

    /** Placeholders of segment {@code [se[0], se[1])}: ids, masks, one-hot labels, memory, upstream gradients. */
    Map<String, INDArray> placeholders(DecoderGraph g, TrainBatch batch, int[] se, MemoryState memory,
                                       Map<String, INDArray> upstream) {
        int b = batch.batchSize(), s = se[1] - se[0], v = model.config().vocabSize();
        DataType dt = model.dtype();
        INDArray ids = slice(batch.inputIds(), se);
        INDArray mask = batch.attentionMask() == null ? null : slice(batch.attentionMask(), se);
        Map<String, INDArray> ph = model.placeholders(ids, mask, memory);
        int[] labels = slice(batch.labels(), se).castTo(DataType.INT32).reshape(-1).toIntVector();
        float[] weights = slice(batch.lossMask(), se).castTo(DataType.FLOAT).reshape(-1).toFloatVector();
        INDArray oneHot = Nd4j.zeros(dt, (long) b * s, v);
        for (int r = 0; r < labels.length; r++) {
            if (weights[r] != 0) {
                if (labels[r] < 0 || labels[r] >= v) {
                    throw new IllegalArgumentException("label " + labels[r] + " is outside the vocabulary [0, " + v + ")");
                }
                oneHot.putScalar(r, labels[r], weights[r]);
            }
        }
        ph.put(DecoderGraph.LABELS, oneHot);
        int nkv = model.config().numKvHeads(), hd = model.config().headDim();
        for (int i = 0; i < model.config().numLayers(); i++) {
            INDArray gm = upstream == null ? null : upstream.get(DecoderGraph.memoryMGrad(i));
            INDArray gz = upstream == null ? null : upstream.get(DecoderGraph.memoryZGrad(i));
            ph.put(DecoderGraph.memoryMGrad(i), gm != null ? gm : Nd4j.zeros(dt, b, nkv, hd, hd));
            ph.put(DecoderGraph.memoryZGrad(i), gz != null ? gz : Nd4j.zeros(dt, b, nkv, hd, 1));
        }
        return ph;
    }

    private static INDArray slice(INDArray a, int[] se) {
        return a.get(NDArrayIndex.all(), NDArrayIndex.interval(se[0], se[1])).dup();
    }

    /**
     * Adds a segment's gradients into {@code acc} and releases them: off-heap buffers are otherwise freed only
     * when the JVM collects their Java handles, and a long sequence makes hundreds of segment-sized
     * gradients per step, which grew the process with the sequence length.
     */
    private static void accumulate(Map<String, INDArray> acc, Map<String, INDArray> grads, List<String> names) {
        for (String n : names) {
            INDArray g = grads.get(n);
            if (g == null) {
                continue; // a parameter this segment's loss does not reach
            }
            INDArray a = acc.get(n);
            if (a == null) {
                acc.put(n, g);
            } else {
                a.addi(g);
                release(g);
            }
        }
    }

    private void releaseSessionsEvery(long n) {
        if (n % InfiniModel.RELEASE_EVERY_SEGMENTS == 0) {
            model.releaseSessions();
        }
    }

    /** Frees an array's off-heap memory now (arrays this class made and no longer needs). */
    static void release(INDArray a) {
        if (a != null && a.closeable()) {
            a.close();
        }
    }
}
