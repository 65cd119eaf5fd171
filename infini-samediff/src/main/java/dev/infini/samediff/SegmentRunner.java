package dev.infini.samediff;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;

/**
 * Runs a sequence of any length through an {@link InfiniModel} segment by segment, passing the memory
 * state from each segment to the next (spec: the last segment is shorter when the length is not a
 * multiple of the segment size). The one place where sequences are cut into segments.
 */
public final class SegmentRunner {
    private final InfiniModel model;
    private final int segmentSize;
    private final boolean carryMemory;

    public SegmentRunner(InfiniModel model) {
        this(model, model.config().segmentSize());
    }

    public SegmentRunner(InfiniModel model, int segmentSize) {
        this(model, segmentSize, true);
    }

    /**
     * @param carryMemory true (the model as designed): each segment reads the memory written by all earlier ones;
     *                    false: every segment starts from the initial memory, so nothing passes between segments
     *                    (for measuring what the memory contributes; the weights and gates are unchanged)
     */
    public SegmentRunner(InfiniModel model, int segmentSize, boolean carryMemory) {
        if (segmentSize <= 0) {
            throw new IllegalArgumentException("segment size must be positive, got " + segmentSize);
        }
        this.model = model;
        this.segmentSize = segmentSize;
        this.carryMemory = carryMemory;
    }

    /** Logits {@code [B, T, V]} of the whole sequence and the memory after its last segment. */
    public record Result(INDArray logits, MemoryState memory) {
    }

    /** Called after every segment (for progress display). */
    public interface Listener {
        void segmentDone(int segment, int segments, long tokensDone);
    }

    /** [start, end) of every segment of a sequence of {@code length} tokens. */
    public static List<int[]> segments(long length, int segmentSize) {
        List<int[]> out = new ArrayList<>();
        for (long start = 0; start < length; start += segmentSize) {
            out.add(new int[] {(int) start, (int) Math.min(length, start + segmentSize)});
        }
        return out;
    }

    public Result run(INDArray ids) {
        return run(ids, null, null, null);
    }

    /**
     * @param ids    {@code [B, T]} token ids
     * @param mask   {@code [B, T]} 1/0 padding mask, or null
     * @param memory the memory before the first segment (before every segment when memory is not carried), or
     *               null for zeros
     */
    public Result run(INDArray ids, INDArray mask, MemoryState memory, Listener listener) {
        return run(ids, mask, memory, null, listener);
    }

    /**
     * Runs {@code ids} with the memory of {@code mode} ({@link MemoryMode}); this runner's {@code carryMemory} is
     * ignored.
     *
     * @param donorIds with {@link MemoryMode#FOREIGN}: the sequences ({@code [B, T]}, the shape of {@code ids}) whose
     *                 memories row {@code i} of {@code ids} reads, segment by segment; ignored otherwise
     */
    public Result run(INDArray ids, INDArray mask, MemoryMode mode, INDArray donorIds, Listener listener) {
        return switch (mode) {
            case ON -> new SegmentRunner(model, segmentSize, true).run(ids, mask, null, listener);
            case OFF -> new SegmentRunner(model, segmentSize, false).run(ids, mask, null, listener);
            case FOREIGN -> {
                if (donorIds == null || !java.util.Arrays.equals(donorIds.shape(), ids.shape())) {
                    throw new IllegalArgumentException("memory mode foreign needs donor sequences of the shape of the ids "
                            + java.util.Arrays.toString(ids.shape()) + ", got "
                            + (donorIds == null ? "none" : java.util.Arrays.toString(donorIds.shape())));
                }
                List<MemoryState> donor = new ArrayList<>();
                new SegmentRunner(model, segmentSize, true).run(donorIds, mask, null, donor, null);
                yield run(ids, mask, null, donor, listener);
            }
        };
    }

    /**
     * @param entering null: memory carried (or not) as this runner is set; an empty list: filled with the memory
     *                 entering each segment; a full list (one per segment): each segment reads that memory instead
     */
    private Result run(INDArray ids, INDArray mask, MemoryState memory, List<MemoryState> entering, Listener listener) {
        if (ids.rank() != 2 || ids.size(1) == 0) {
            throw new IllegalArgumentException("token ids must be a non-empty [batch, T] array, got shape "
                    + java.util.Arrays.toString(ids.shape()));
        }
        MemoryState initial = memory != null ? memory : model.zeroMemory((int) ids.size(0));
        MemoryState state = initial;
        List<int[]> segs = segments(ids.size(1), segmentSize);
        boolean record = entering != null && entering.isEmpty();
        List<INDArray> logits = new ArrayList<>(segs.size());
        for (int k = 0; k < segs.size(); k++) {
            int[] se = segs.get(k);
            INDArray segIds = ids.get(NDArrayIndex.all(), NDArrayIndex.interval(se[0], se[1])).dup();
            INDArray segMask = mask == null ? null
                    : mask.get(NDArrayIndex.all(), NDArrayIndex.interval(se[0], se[1])).dup();
            if (record) {
                entering.add(state.copy());          // a copy: the next segments may reuse buffers
            } else if (entering != null) {
                state = entering.get(k);
            }
            InfiniModel.SegmentOutput out = model.forwardSegment(segIds, segMask, state);
            logits.add(out.logits());
            state = carryMemory || k == segs.size() - 1 ? out.memory() : initial;
            model.runtime().segmentDone();
            if (listener != null) {
                listener.segmentDone(k + 1, segs.size(), se[1]);
            }
        }
        INDArray all = logits.size() == 1 ? logits.get(0) : Nd4j.concat(1, logits.toArray(new INDArray[0]));
        return new Result(all, state);
    }
}
