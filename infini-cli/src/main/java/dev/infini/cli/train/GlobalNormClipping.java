package dev.infini.cli.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serializable;

/**
 * {@code --clip} for the graph engine: DL4J's own gradient normalisation works per layer or per parameter, so this
 * listener scales all gradients together when their global L2 norm exceeds {@code maxNorm} (0: never, it only
 * measures), as the SameDiff trainer does ({@code OptimizerStep}). DL4J calls {@link #onGradientCalculation} after the
 * backward pass and before the updater. Its one state is the last norm it saw ({@link #lastNorm}, for the training
 * listeners), so ParallelWrapper's workers may share it (the norm is then any worker's latest).
 */
public final class GlobalNormClipping extends BaseTrainingListener implements Serializable {
    private final double maxNorm;
    private volatile double lastNorm = Double.NaN;

    public GlobalNormClipping(double maxNorm) {
        this.maxNorm = maxNorm;
    }

    @Override
    public void onGradientCalculation(Model model) {
        var grads = model.gradient().gradientForVariable().values();
        double sq = 0;
        for (INDArray g : grads) {
            double n = g.norm2Number().doubleValue();
            sq += n * n;
        }
        double norm = Math.sqrt(sq);
        lastNorm = norm;
        if (maxNorm > 0 && Double.isFinite(norm) && norm > maxNorm) {
            double c = maxNorm / norm;
            for (INDArray g : grads) {
                g.muli(c);
            }
        }
    }

    /** The global gradient norm (before clipping) of the latest step, NaN before the first. */
    public double lastNorm() {
        return lastNorm;
    }
}
