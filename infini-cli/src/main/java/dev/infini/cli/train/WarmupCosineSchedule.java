package dev.infini.cli.train;

import dev.infini.samediff.train.LrSchedule;
import org.nd4j.linalg.schedule.ISchedule;

/**
 * The project's {@link LrSchedule} (linear warmup, then cosine decay to {@code peak * minRatio}) as an ND4J
 * {@link ISchedule}, for the graph engine's DL4J updaters: DL4J's 0-based iteration {@code i} (updates done so far)
 * gets the rate the SameDiff trainer uses for its optimizer step {@code i + 1}. Plain fields and a no-argument
 * constructor, for DL4J's JSON form of a configuration (ParallelWrapper and Spark copy configurations).
 */
public final class WarmupCosineSchedule implements ISchedule {
    private double peak;
    private int warmup;
    private int total;
    private double minRatio;

    /** For JSON. */
    public WarmupCosineSchedule() {
    }

    public WarmupCosineSchedule(double peak, int warmup, int total, double minRatio) {
        this.peak = peak;
        this.warmup = warmup;
        this.total = total;
        this.minRatio = minRatio;
    }

    /** The same schedule with the peak (and so every rate) scaled, e.g. for the gates' learning-rate multiplier. */
    public WarmupCosineSchedule scaled(double factor) {
        return new WarmupCosineSchedule(peak * factor, warmup, total, minRatio);
    }

    @Override
    public double valueAt(int iteration, int epoch) {
        return new LrSchedule(peak, warmup, total, minRatio).at(iteration + 1L);
    }

    @Override
    public ISchedule clone() {
        return new WarmupCosineSchedule(peak, warmup, total, minRatio);
    }
}
