package dev.infini.samediff.train;

import dev.infini.samediff.DecoderGraph;
import dev.infini.samediff.GraphNames;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.fast.FastSegment;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Gradients of the summed next-token loss of a batch of long sequences, run segment by segment with
 * the memory passed on: the one place where training cuts sequences into segments.
 *
 * <p>{@link MemoryGradient#FULL}: a forward pass keeps only the memory entering each segment; the
 * backward pass goes through the segments in reverse, recomputing each one and feeding it the gradient
 * with respect to its output memory (the objective {@link GraphNames#LOSS}); the gradient with
 * respect to its input memory goes to the segment before. Peak memory is one segment's activations plus
 * the per-segment memory states. {@link MemoryGradient#TRUNCATED}: one pass, the memory entering each
 * segment is a constant. The recurrence itself is {@link SegmentRecurrence}; this class supplies the
 * decoder's segments.
 */
public final class SegmentGradients {
    private final InfiniModel model;
    private final int segmentSize;

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
        Segments segs = segments(batch);
        MemoryState initial = model.zeroMemory(batch.batchSize());
        SegmentRecurrence.Result r = mode == MemoryGradient.FULL
                ? SegmentRecurrence.full(segs.bounds.size(), initial, segs)
                : SegmentRecurrence.truncated(segs.bounds.size(), initial, segs);
        return new Result(r.gradients(), segs.nll, batch.tokens(), r.memory());
    }

    /** The summed loss of a batch without gradients (validation), memory carried across its segments. */
    public Result evaluate(TrainBatch batch) {
        Segments segs = segments(batch);
        MemoryState last = SegmentRecurrence.forward(segs.bounds.size(), model.zeroMemory(batch.batchSize()), segs, null);
        return new Result(Map.of(), segs.nll, batch.tokens(), last);
    }

    /** The batch's segments, run by the model's {@link SegmentKernel}. */
    private Segments segments(TrainBatch batch) {
        return model.kernel() == SegmentKernel.FAST ? new FastSegments(batch) : new GraphSegments(batch);
    }

    /** The segments of one batch for {@link SegmentRecurrence}; adds up the NLL of the forward runs. */
    private abstract class Segments implements SegmentRecurrence.Segment {
        final TrainBatch batch;
        final List<int[]> bounds;
        double nll;

        Segments(TrainBatch batch) {
            this.batch = batch;
            this.bounds = SegmentRunner.segments(batch.length(), segmentSize);
        }

        INDArray part(INDArray a, int k) {
            return a == null ? null : slice(a, bounds.get(k));
        }
    }

    /**
     * Segments run by the hand-written engine ({@link FastSegment}, held equal to the graph by its tests). Its
     * parameter gradients are its own buffers, so they are copied before the recurrence adds and releases them.
     */
    private final class FastSegments extends Segments {
        FastSegments(TrainBatch batch) {
            super(batch);
        }

        private FastSegment engine(int k) {
            return model.fastSegment(batch.batchSize(), bounds.get(k)[1] - bounds.get(k)[0]);
        }

        @Override
        public MemoryState forward(int k, MemoryState in) {
            FastSegment.Result r = engine(k).forwardLoss(part(batch.inputIds(), k), part(batch.attentionMask(), k),
                    part(batch.labels(), k), part(batch.lossMask(), k), in);
            nll += r.nllSum();
            model.runtime().segmentDone();
            return r.memory();
        }

        @Override
        public MemoryState advance(int k, MemoryState in) {
            MemoryState out = engine(k).forwardMemory(part(batch.inputIds(), k), part(batch.attentionMask(), k), in);
            model.runtime().segmentDone();
            return out;
        }

        @Override
        public SegmentRecurrence.Grads backward(int k, MemoryState in, MemoryState upstream, boolean memoryGradient,
                                                boolean memoryOut) {
            int nl = model.config().numLayers();
            INDArray[] dm = new INDArray[nl], dz = new INDArray[nl];
            for (int i = 0; upstream != null && i < nl; i++) {
                dm[i] = upstream.m(i);
                dz[i] = upstream.z(i);
            }
            FastSegment.Result r = engine(k).forwardBackward(part(batch.inputIds(), k), part(batch.attentionMask(), k),
                    part(batch.labels(), k), part(batch.lossMask(), k), in, dm, dz);
            model.runtime().segmentDone();
            Map<String, INDArray> params = new LinkedHashMap<>();
            r.gradients().forEach((n, g) -> params.put(n, g.dup()));
            nll += r.nllSum();
            MemoryState gradIn = null;
            if (memoryGradient) {
                INDArray[] gz = new INDArray[nl];
                for (int i = 0; i < nl; i++) {
                    INDArray z = r.memoryZGrad()[i];
                    gz[i] = z.reshape(z.size(0), z.size(1), z.size(2));                  // [B, Hkv, d], MemoryState's layout
                }
                gradIn = new MemoryState(r.memoryMGrad(), gz);
            }
            return new SegmentRecurrence.Grads(params, gradIn, memoryOut ? r.memory() : null);
        }
    }

    /** Segments run by the SameDiff graph ({@link DecoderGraph}) through the model's {@code GraphRuntime}. */
    private final class GraphSegments extends Segments {
        GraphSegments(TrainBatch batch) {
            super(batch);
        }

        private DecoderGraph graph(int k) {
            return model.graph(batch.batchSize(), bounds.get(k)[1] - bounds.get(k)[0], true);
        }

        @Override
        public MemoryState forward(int k, MemoryState in) {
            return run(k, in, true);
        }

        @Override
        public MemoryState advance(int k, MemoryState in) {
            return run(k, in, false);   // SameDiff runs only what M', z' need
        }

        /** Segment {@code k} forward from {@code in}; adds its NLL when {@code withNll}; the memory it leaves. */
        private MemoryState run(int k, MemoryState in, boolean withNll) {
            Map<String, INDArray> ph = placeholders(graph(k), batch, bounds.get(k), in, null);
            Map<String, INDArray> out = graph(k).sameDiff().output(ph, memoryOutputs(withNll));
            SegmentRecurrence.release(ph.get(GraphNames.LABELS));
            if (withNll) {
                nll += out.get(GraphNames.NLL_SUM).getDouble(0);
            }
            model.runtime().segmentDone();
            return model.nextMemory(out);
        }

        @Override
        public SegmentRecurrence.Grads backward(int k, MemoryState in, MemoryState upstream, boolean memoryGradient,
                                                boolean memoryOut) {
            DecoderGraph g = graph(k);
            Map<String, INDArray> ph = placeholders(g, batch, bounds.get(k), in, upstream);
            List<String> wrt = new ArrayList<>(g.parameterNames());
            if (memoryGradient) {
                wrt.addAll(List.of(GraphNames.memoryInputs(model.config().numLayers())));
            }
            Map<String, INDArray> out = model.runtime().outputsAndGradients(g.sameDiff(), ph,
                    memoryOut ? memoryOutputs(true) : List.of(GraphNames.NLL_SUM), wrt);
            SegmentRecurrence.release(ph.get(GraphNames.LABELS));
            model.runtime().segmentDone();
            Map<String, INDArray> params = new LinkedHashMap<>();
            g.parameterNames().forEach(n -> params.put(n, out.get(n)));
            nll += out.get(GraphNames.NLL_SUM).getDouble(0);
            return new SegmentRecurrence.Grads(params, memoryGradient ? memoryGradients(out) : null,
                    memoryOut ? model.nextMemory(out) : null);
        }
    }

    /** The gradients of every layer's incoming memory in an output map. */
    private MemoryState memoryGradients(Map<String, INDArray> out) {
        int nl = model.config().numLayers();
        INDArray[] m = new INDArray[nl], z = new INDArray[nl];
        for (int i = 0; i < nl; i++) {
            m[i] = out.get(GraphNames.memoryM(i));
            z[i] = out.get(GraphNames.memoryZ(i));
        }
        return new MemoryState(m, z);
    }

    private List<String> memoryOutputs(boolean withNll) {
        List<String> outs = new ArrayList<>();
        if (withNll) {
            outs.add(GraphNames.NLL_SUM);
        }
        for (int i = 0; i < model.config().numLayers(); i++) {
            outs.add(GraphNames.memoryMNext(i));
            outs.add(GraphNames.memoryZNext(i));
        }
        return outs;
    }

    /** Placeholders of segment {@code [se[0], se[1])}: ids, masks, one-hot labels, memory, upstream gradients. */
    Map<String, INDArray> placeholders(DecoderGraph g, TrainBatch batch, int[] se, MemoryState memory,
                                       MemoryState upstream) {
        INDArray ids = slice(batch.inputIds(), se);
        INDArray mask = batch.attentionMask() == null ? null : slice(batch.attentionMask(), se);
        Map<String, INDArray> ph = model.placeholders(ids, mask, memory);
        int[] labels = slice(batch.labels(), se).castTo(DataType.INT32).reshape(-1).toIntVector();
        float[] weights = slice(batch.lossMask(), se).castTo(DataType.FLOAT).reshape(-1).toFloatVector();
        ph.put(GraphNames.LABELS, OneHotLabels.of(labels, weights, model.config().vocabSize(), model.dtype()));
        model.putMemoryGradients(ph, upstream, batch.batchSize());
        return ph;
    }

    private static INDArray slice(INDArray a, int[] se) {
        return a.get(NDArrayIndex.all(), NDArrayIndex.interval(se[0], se[1])).dup();
    }
}
