package dev.infini.samediff;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Locale;

/**
 * What computes a segment of the decoder. The SameDiff graph ({@link DecoderGraph}) is the definition; the fast
 * kernel ({@link dev.infini.samediff.fast.FastSegment}) is a hand-written forward and backward of the same
 * function, held equal to the graph by {@code FastSegmentTest} (logits 1e-5, gradients 1e-4 in float; 1e-15 in
 * double; finite differences), and 2-4x faster on a CPU. With FAST, token-by-token decoding
 * ({@link dev.infini.samediff.decode.StreamingDecoder}) runs the hand-written step
 * {@link dev.infini.samediff.fast.FastStep} instead of the decode-step graph.
 */
public enum SegmentKernel {
    /** The hand-written engine: BLAS products into reused buffers and fused Java loops (ND4J CPU backend only). */
    FAST,
    /** The SameDiff graph of one segment, run by SameDiff (any ND4J backend). */
    SAMEDIFF;

    /** {@code fast} or {@code samediff} (any case). */
    public static SegmentKernel parse(String s) {
        for (SegmentKernel k : values()) {
            if (k.name().equalsIgnoreCase(s == null ? "" : s.trim())) {
                return k;
            }
        }
        throw new IllegalArgumentException("segment kernel must be 'fast' or 'samediff', got '" + s + "'");
    }

    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The fastest kernel that can run here: FAST on the CPU backend in float32/float64, else SAMEDIFF. */
    public static SegmentKernel defaultFor(DataType dtype) {
        boolean cpu;
        try {
            cpu = Nd4j.getEnvironment().isCPU();
        } catch (RuntimeException e) {
            cpu = false;
        }
        return cpu && (dtype == DataType.FLOAT || dtype == DataType.DOUBLE) ? FAST : SAMEDIFF;
    }

    /** Whether this kernel can run a model of this dtype on the current backend. */
    public void check(DataType dtype) {
        if (this == FAST && defaultFor(dtype) != FAST) {
            throw new IllegalArgumentException("the fast segment kernel runs on ND4J's CPU backend in float32/float64 only"
                    + " (here: " + dtype + (Nd4j.getEnvironment().isCPU() ? "" : ", not the CPU backend")
                    + "); use --kernel samediff");
        }
    }
}
