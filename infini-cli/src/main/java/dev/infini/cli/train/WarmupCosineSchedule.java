package dev.infini.cli.train;

import dev.infini.samediff.train.LrSchedule;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * The project's {@link LrSchedule} (linear warmup, then cosine decay to {@code peak * minRatio}) as an ND4J
 * {@link ISchedule}, for the graph engine's DL4J updaters: DL4J's 0-based iteration {@code i} (updates done so far)
 * gets the rate the SameDiff trainer uses for its optimizer step {@code i + 1}. Plain fields and a no-argument
 * constructor, fields visible to DL4J's (shaded) Jackson: ParallelWrapper and Spark copy configurations through
 * their JSON form.
 */
public final class WarmupCosineSchedule implements ISchedule {
    @JsonProperty
    private double peak;
    @JsonProperty
    private int warmup;
    @JsonProperty
    private int total;
    @JsonProperty
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

    /** By value, as ND4J's own schedules (DL4J groups parameters whose updater configurations are equal). */
    @Override
    public boolean equals(Object other) {
        return other instanceof WarmupCosineSchedule w && w.peak == peak && w.warmup == warmup && w.total == total
                && w.minRatio == minRatio;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(peak, warmup, total, minRatio);
    }
}
