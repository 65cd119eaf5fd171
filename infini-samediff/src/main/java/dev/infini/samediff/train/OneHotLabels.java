package dev.infini.samediff.train;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Next-token targets as the loss graphs take them: one-hot rows {@code [N, V]} weighted by the loss mask,
 * all-zero where a position does not count (so {@code -sum(labels * log_softmax(logits))} is the summed
 * NLL of the counted positions).
 */
public final class OneHotLabels {
    private OneHotLabels() {
    }

    /**
     * @param labels  target id per row {@code [N]}
     * @param weights loss weight per row {@code [N]} (0: the row does not count, its label is not checked),
     *                or null for all 1
     * @return {@code [N, V]} in {@code dtype}
     * @throws IllegalArgumentException for a counted label outside {@code [0, vocab)}
     */
    public static INDArray of(int[] labels, float[] weights, int vocab, DataType dtype) {
        INDArray oneHot = Nd4j.zeros(dtype, labels.length, vocab);
        for (int r = 0; r < labels.length; r++) {
            float w = weights == null ? 1f : weights[r];
            if (w != 0) {
                if (labels[r] < 0 || labels[r] >= vocab) {
                    throw new IllegalArgumentException("label " + labels[r] + " is outside the vocabulary [0, " + vocab + ")");
                }
                oneHot.putScalar(r, labels[r], w);
            }
        }
        return oneHot;
    }
}
