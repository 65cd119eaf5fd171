package dev.infini.samediff.train;

/** Linear warmup to {@code peak}, then cosine decay to {@code peak * minRatio} at {@code total} steps. */
public record LrSchedule(double peak, int warmup, int total, double minRatio) {
    /** Learning rate of optimizer step {@code step} (1-based). */
    public double at(long step) {
        if (warmup > 0 && step <= warmup) {
            return peak * step / warmup;
        }
        if (total <= warmup) {
            return peak;
        }
        double progress = Math.min(1.0, (double) (step - warmup) / (total - warmup));
        double min = peak * minRatio;
        return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
}
