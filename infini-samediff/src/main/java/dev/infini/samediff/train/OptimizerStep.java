package dev.infini.samediff.train;

import dev.infini.samediff.InfiniModel;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One optimizer step from one or more batches (gradient accumulation): gradients of the summed loss
 * are added up, divided by the number of counted tokens, checked to be finite, clipped by global norm,
 * then applied with {@link AdamW}. A non-finite loss or gradient skips the step and leaves the weights
 * and the optimizer state untouched.
 */
public final class OptimizerStep {
    private static final Logger log = LoggerFactory.getLogger(OptimizerStep.class);

    private final InfiniModel model;
    private final SegmentGradients gradients;
    private final AdamW adam;
    private final MemoryGradient mode;
    private final double clipNorm;

    public OptimizerStep(InfiniModel model, int segmentSize, MemoryGradient mode, AdamW adam, double clipNorm) {
        this.model = model;
        this.gradients = new SegmentGradients(model, segmentSize);
        this.adam = adam;
        this.mode = mode;
        this.clipNorm = clipNorm;
    }

    /**
     * What one step did. {@code gradNorm} is before clipping; {@code skipped} when it was not finite;
     * {@code memoryNorms} the Frobenius norm of each layer's memory {@code M} after the last segment of the last batch.
     */
    public record Stats(double loss, double gradNorm, double tokens, boolean skipped, double[] memoryNorms) {
    }

    public Stats step(List<TrainBatch> batches, double lr) {
        Map<String, INDArray> sum = new LinkedHashMap<>();
        double nll = 0, tokens = 0;
        double[] memoryNorms = new double[0];
        for (TrainBatch b : batches) {
            SegmentGradients.Result r = gradients.compute(b, mode);
            memoryNorms = r.memory().memoryNorms();
            nll += r.nllSum();
            tokens += r.tokens();
            r.gradients().forEach((k, g) -> {
                INDArray a = sum.putIfAbsent(k, g);
                if (a != null) {
                    a.addi(g);
                    SegmentRecurrence.release(g);
                }
            });
        }
        double scale = 1.0 / Math.max(tokens, 1);
        double sq = 0;
        for (INDArray g : sum.values()) {
            g.muli(scale);
            double n = g.norm2Number().doubleValue();
            sq += n * n;
        }
        double norm = Math.sqrt(sq);
        double loss = nll * scale;
        if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
            log.warn("non-finite loss {} or gradient norm {}: step skipped", loss, norm);
            sum.values().forEach(SegmentRecurrence::release);
            return new Stats(loss, norm, tokens, true, memoryNorms);
        }
        if (clipNorm > 0 && norm > clipNorm) {
            double c = clipNorm / norm;
            for (INDArray g : sum.values()) {
                g.muli(c);
            }
        }
        adam.update(model, sum, lr);
        sum.values().forEach(SegmentRecurrence::release);
        return new Stats(loss, norm, tokens, false, memoryNorms);
    }

    public AdamW optimizer() { return adam; }
    public MemoryGradient mode() { return mode; }
}
