package dev.infini.datasets.pipeline;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Helpers for the arrays a {@link TokenBlockIterator} yields. */
public final class TokenBatches {
    private TokenBatches() {
    }

    /**
     * One-hot next-token targets {@code [batch * seq_len, vocab]} (row {@code b * seq_len + t}), with all-zero rows
     * where the label mask is 0: the label layout of a per-token cross-entropy that divides by the number of
     * one-hot rows.
     */
    public static INDArray oneHotLabels(INDArray labels, INDArray labelMask, int vocabSize, DataType dtype) {
        long b = labels.size(0);
        long t = labels.size(1);
        int[] ids = labels.castTo(DataType.INT32).dup('c').data().asInt();
        float[] mask = labelMask == null ? null : labelMask.castTo(DataType.FLOAT).dup('c').data().asFloat();
        INDArray out = Nd4j.zeros(dtype, b * t, vocabSize);
        for (int i = 0; i < ids.length; i++) {
            if (mask != null && mask[i] == 0f) {
                continue;
            }
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("label id " + ids[i] + " at row " + i + " is outside [0, " + vocabSize + ")");
            }
            out.putScalar(i, ids[i], 1.0);
        }
        return out;
    }
}
