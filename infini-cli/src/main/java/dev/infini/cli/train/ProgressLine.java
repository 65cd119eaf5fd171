package dev.infini.cli.train;

import java.util.function.Consumer;

/**
 * The progress line of a run as a {@link TrainListener}: after every step,
 * {@code step 12/100 loss 2.4012 | 2,074 tok/s | lr 2.00e-04 | ETA 1m30s} (tokens per second over the run so far;
 * the ETA from this session's pace) goes to a consumer ({@code train} draws it as a bar).
 */
public final class ProgressLine implements TrainListener {
    private final Consumer<String> out;
    private long firstStep;
    private long startNanos = System.nanoTime();

    public ProgressLine(Consumer<String> out) {
        this.out = out;
    }

    @Override
    public void started(Start s) {
        firstStep = s.firstStep();
        startNanos = System.nanoTime();
    }

    @Override
    public void stepped(Step s) {
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        double eta = elapsed / Math.max(1, s.step() - firstStep) * (s.totalSteps() - s.step());
        out.accept(line(s) + " | ETA " + RunArtifacts.eta(eta));
    }

    /** The line without the ETA. */
    static String line(Step s) {
        return String.format("step %d/%d loss %.4f | %,.0f tok/s | lr %.2e", s.step(), s.totalSteps(), s.loss(),
                s.tokens() / Math.max(s.trainSeconds(), 1e-9), s.learningRate());
    }
}
