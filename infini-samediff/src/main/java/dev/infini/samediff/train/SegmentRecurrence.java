package dev.infini.samediff.train;

import dev.infini.samediff.MemoryState;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Back-propagation through the memory passed between segments, written once for anything that runs
 * segment by segment: the whole decoder ({@link SegmentGradients}) and one decoder layer inside a
 * Deeplearning4j layer. What a segment computes is the caller's {@link Segment}; the memory is a
 * {@link MemoryState} (of every layer, or of one), and so are its gradients (same shapes).
 *
 * <p>{@link #full}: a forward pass keeps only the memory entering each segment ({@link #forward}); the
 * backward pass ({@link #backward}) goes through the segments in reverse, recomputing each one fed the
 * upstream gradient of the memory it returned; the gradient of its incoming memory goes to the segment
 * before. Peak memory: one segment's activations plus the per-segment memory states.
 * {@link #truncated}: one pass, the memory entering each segment a constant (no memory gradient).
 */
public final class SegmentRecurrence {
    private SegmentRecurrence() {
    }

    /** What one segment computes; implemented by the caller, who also keeps its other results (losses, outputs). */
    public interface Segment {
        /**
         * Runs segment {@code k} forward from the memory {@code in}.
         *
         * @return the memory it leaves
         */
        MemoryState forward(int k, MemoryState in);

        /**
         * The memory segment {@code k} leaves, from the memory {@code in}, computing no more than that memory
         * depends on (the first pass of {@link #full}, whose backward run of the segment counts its loss). The
         * default runs {@link #forward}; an implementation that counts a loss in {@code forward} must override it
         * so that the loss is not counted twice.
         */
        default MemoryState advance(int k, MemoryState in) {
            return forward(k, in);
        }

        /**
         * Runs segment {@code k} forward and backward from the memory {@code in}, the gradient of the loss of
         * this and all later segments with respect to the memory it leaves being {@code upstream} (null: zero).
         * Counts the segment's loss (the caller's bookkeeping) every time.
         *
         * @param memoryGradient whether the gradient of {@code in} is wanted
         * @param memoryOut      whether the memory it leaves is wanted (truncated mode)
         */
        Grads backward(int k, MemoryState in, MemoryState upstream, boolean memoryGradient, boolean memoryOut);
    }

    /**
     * What {@link Segment#backward} returns.
     *
     * @param parameters gradients by parameter name (arrays the recurrence may release once added up)
     * @param memoryIn   the gradient of the incoming memory, when asked for, else null
     * @param memoryOut  the memory the segment left, when asked for, else null
     */
    public record Grads(Map<String, INDArray> parameters, MemoryState memoryIn, MemoryState memoryOut) {
    }

    /**
     * Forward over {@code segments} segments from {@code initial}; records the memory entering each one in
     * {@code entering} when it is not null.
     *
     * @return the memory after the last segment
     */
    public static MemoryState forward(int segments, MemoryState initial, Segment segment, List<MemoryState> entering) {
        MemoryState state = initial;
        for (int k = 0; k < segments; k++) {
            if (entering != null) {
                entering.add(state);
            }
            state = segment.forward(k, state);
        }
        return state;
    }

    /**
     * The backward pass of {@link #full}, given the memory entering each segment: gradients of the
     * parameters summed over segments (added up in {@code into}, which may be non-empty).
     */
    public static Map<String, INDArray> backward(List<MemoryState> entering, Segment segment,
                                                 Map<String, INDArray> into) {
        return backward(entering, segment, into, null);
    }

    /** {@link #backward}; with {@code last} non-null, the last segment's run also puts the memory it leaves there. */
    private static Map<String, INDArray> backward(List<MemoryState> entering, Segment segment,
                                                  Map<String, INDArray> into, MemoryState[] last) {
        MemoryState upstream = null; // gradient w.r.t. the memory leaving the current segment
        for (int k = entering.size() - 1; k >= 0; k--) {
            boolean lastOut = last != null && k == entering.size() - 1;
            Grads g = segment.backward(k, entering.get(k), upstream, k > 0, lastOut);
            if (lastOut) {
                last[0] = g.memoryOut();
            }
            accumulate(into, g.parameters());
            release(upstream);
            upstream = k > 0 ? g.memoryIn() : null;
        }
        return into;
    }

    /**
     * Exact gradients through the memory of all segments by per-segment recomputation. The first pass only
     * advances the memory ({@link Segment#advance}) and stops before the last segment, which nothing in that
     * pass needs: the backward pass recomputes it first, and also returns the memory it leaves.
     *
     * @return parameter gradients summed over segments, and the memory after the last segment
     */
    public static Result full(int segments, MemoryState initial, Segment segment) {
        List<MemoryState> entering = new ArrayList<>(segments);
        MemoryState state = initial;
        for (int k = 0; k < segments; k++) {
            entering.add(state);
            if (k < segments - 1) {
                state = segment.advance(k, state);
            }
        }
        MemoryState[] last = new MemoryState[1];
        Map<String, INDArray> grads = backward(entering, segment, new LinkedHashMap<>(), last);
        return new Result(grads, segments == 0 ? initial : last[0]);
    }

    /** Gradients with the memory entering each segment a constant: one pass, summed over segments. */
    public static Result truncated(int segments, MemoryState initial, Segment segment) {
        MemoryState state = initial;
        Map<String, INDArray> acc = new LinkedHashMap<>();
        for (int k = 0; k < segments; k++) {
            Grads g = segment.backward(k, state, null, false, true);
            accumulate(acc, g.parameters());
            state = g.memoryOut();
        }
        return new Result(acc, state);
    }

    /** Parameter gradients summed over segments and the memory after the last one. */
    public record Result(Map<String, INDArray> gradients, MemoryState memory) {
    }

    /**
     * Adds a segment's gradients into {@code acc} and releases them: off-heap buffers are otherwise freed only
     * when the JVM collects their Java handles, and a long sequence makes hundreds of segment-sized
     * gradients per step, which grew the process with the sequence length.
     */
    static void accumulate(Map<String, INDArray> acc, Map<String, INDArray> grads) {
        for (Map.Entry<String, INDArray> e : grads.entrySet()) {
            INDArray g = e.getValue();
            if (g == null) {
                continue; // a parameter this segment's loss does not reach
            }
            INDArray a = acc.get(e.getKey());
            if (a == null) {
                acc.put(e.getKey(), g);
            } else {
                a.addi(g);
                release(g);
            }
        }
    }

    /** Frees the off-heap memory of a memory gradient the recurrence no longer needs. */
    private static void release(MemoryState s) {
        if (s != null) {
            for (int i = 0; i < s.numLayers(); i++) {
                release(s.m(i));
                release(s.z(i));
            }
        }
    }

    /** Frees an array's off-heap memory now (arrays made for this computation and no longer needed). */
    static void release(INDArray a) {
        if (a != null && a.closeable()) {
            a.close();
        }
    }
}
