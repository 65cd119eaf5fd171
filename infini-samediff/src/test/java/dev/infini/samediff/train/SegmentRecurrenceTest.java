package dev.infini.samediff.train;

import dev.infini.samediff.MemoryState;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The recurrence on a toy segment with a closed-form gradient: memory {@code (M, z)} of one element each,
 * segment k computes {@code M' = a M + x_k}, {@code z' = a z + 1} and the loss {@code a M + z}; the total loss
 * is the sum over segments. Parameter: {@code a}.
 */
class SegmentRecurrenceTest {
    static final double[] X = {0.5, -1.25, 2.0, 0.75};

    static MemoryState mem(double m, double z) {
        return new MemoryState(new INDArray[] {Nd4j.scalar(m).reshape(1, 1, 1, 1)},
                new INDArray[] {Nd4j.scalar(z).reshape(1, 1, 1)});
    }

    /** The toy segment; counts calls so the test sees the forward pass and the recomputation. */
    static final class Toy implements SegmentRecurrence.Segment {
        final double a;
        final List<String> calls = new ArrayList<>();

        Toy(double a) {
            this.a = a;
        }

        @Override
        public MemoryState forward(int k, MemoryState in) {
            calls.add("f" + k);
            return mem(a * in.m(0).getDouble(0) + X[k], a * in.z(0).getDouble(0) + 1);
        }

        @Override
        public SegmentRecurrence.Grads backward(int k, MemoryState in, MemoryState upstream, boolean memoryGradient,
                                                boolean memoryOut) {
            calls.add("b" + k);
            double m = in.m(0).getDouble(0), z = in.z(0).getDouble(0);
            double gm = upstream == null ? 0 : upstream.m(0).getDouble(0);
            double gz = upstream == null ? 0 : upstream.z(0).getDouble(0);
            // objective = a m + z + gm (a m + x) + gz (a z + 1)
            double da = m + gm * m + gz * z;
            return new SegmentRecurrence.Grads(Map.of("a", Nd4j.scalar(da)),
                    memoryGradient ? mem(a + gm * a, 1 + gz * a) : null,
                    memoryOut ? forward(k, in) : null);
        }
    }

    /** d(total)/da by central differences of the unrolled sum, memory flowing (or frozen: truncated). */
    static double numeric(double a, boolean truncated) {
        double h = 1e-6;
        return (total(a + h, a, truncated) - total(a - h, a, truncated)) / (2 * h);
    }

    /** The total loss with parameter {@code a}; with {@code truncated} the memory follows {@code a0} (a constant). */
    static double total(double a, double a0, boolean truncated) {
        double m = 0, z = 0, loss = 0;
        for (double x : X) {
            loss += a * m + z;
            double b = truncated ? a0 : a;
            m = b * m + x;
            z = b * z + 1;
        }
        return loss;
    }

    @Test
    @DisplayName("full: the memory advanced up to the last segment, then every segment recomputed in reverse (the last one also returning its memory); the exact gradient")
    void full() {
        Toy toy = new Toy(0.8);
        SegmentRecurrence.Result r = SegmentRecurrence.full(X.length, mem(0, 0), toy);
        assertEquals(List.of("f0", "f1", "f2", "b3", "f3", "b2", "b1", "b0"), toy.calls);
        assertEquals(numeric(0.8, false), r.gradients().get("a").getDouble(0), 1e-6);
        assertEquals(toy.forward(3, toy.forward(2, toy.forward(1, toy.forward(0, mem(0, 0))))).m(0).getDouble(0),
                r.memory().m(0).getDouble(0), 1e-12);
    }

    @Test
    @DisplayName("truncated: one pass, the incoming memory a constant")
    void truncated() {
        Toy toy = new Toy(0.8);
        SegmentRecurrence.Result r = SegmentRecurrence.truncated(X.length, mem(0, 0), toy);
        assertEquals(List.of("b0", "f0", "b1", "f1", "b2", "f2", "b3", "f3"), toy.calls);
        assertEquals(numeric(0.8, true), r.gradients().get("a").getDouble(0), 1e-6);
    }
}
