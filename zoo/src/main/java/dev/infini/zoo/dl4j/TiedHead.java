package dev.infini.zoo.dl4j;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * A tied LM head in a ComputationGraph. DL4J layers cannot share a parameter, so with
 * {@code tie_word_embeddings} the head layer holds a copy of the embedding matrix, and both copies get
 * the gradient of the tied weight, {@code dL/dE = dL/dE|embedding + dL/dE|head}: the head layer's
 * backward pass (always before the embedding layer's, on the same thread) leaves its gradient view
 * here; the embedding layer adds it to its own and writes the sum into both views. Identical
 * gradients from identical starting values keep the two copies equal under any element-wise updater.
 */
final class TiedHead {
    private static final ThreadLocal<INDArray> PENDING = new ThreadLocal<>();

    private TiedHead() {
    }

    /** Called by a tied head layer after writing its gradient view. */
    static void offer(INDArray headGradientView) {
        PENDING.set(headGradientView);
    }

    /** Called by the embedding layer after writing its gradient view: both views end up with the sum. */
    static void collect(INDArray embeddingGradientView) {
        INDArray head = PENDING.get();
        PENDING.remove();
        if (head == null) {
            return;
        }
        if (!Arrays.equals(head.shape(), embeddingGradientView.shape())) {
            throw new IllegalStateException("tied head gradient " + Arrays.toString(head.shape())
                    + " does not match the embedding " + Arrays.toString(embeddingGradientView.shape()));
        }
        embeddingGradientView.addi(head);
        head.assign(embeddingGradientView);
    }
}
