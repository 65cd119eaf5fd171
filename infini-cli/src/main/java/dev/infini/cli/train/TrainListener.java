package dev.infini.cli.train;

import java.util.ArrayList;
import java.util.List;

/**
 * What a training run reports, whatever the engine ({@link SameDiffEngine}, {@link GraphEngine}, on one worker or
 * several): its start, every optimizer step, every validation and its end. Listeners are added to a {@link Trainer}
 * ({@link Trainer#addListener}); the progress line ({@link ProgressLine}) and the DL4J UI feed
 * ({@code dev.infini.cli.ui.StatsFeed}) are listeners. Each event is called on the training thread after the step's
 * metrics line and checkpoint were written; an exception thrown by a listener stops the run.
 */
public interface TrainListener {
    /**
     * The run is about to train. {@code firstStep} is 0, or the checkpoint's step when resumed; {@code config} is the
     * model's {@code config.json}.
     */
    record Start(String engine, long firstStep, int totalSteps, long parameters, int layers, int batch, int seqLen,
                 String config) {
    }

    /**
     * One optimizer step. {@code loss} in nats per token (non-finite when {@code skipped}); {@code gradNorm} the
     * global L2 norm before clipping (NaN where the engine cannot see it); {@code tokensPerSecond} this step's
     * throughput; {@code tokens} and {@code trainSeconds} the run's totals so far; {@code gates} sigmoid of every
     * layer's and query head's gate after the step, {@code [layer][head]}; {@code memoryNorms} the Frobenius norm of
     * each layer's memory {@code M} at the end of the step's last batch (empty where the engine cannot see it: the
     * graph engine's layers keep their memory inside).
     */
    record Step(long step, int totalSteps, double loss, double learningRate, double gradNorm, double tokensPerSecond,
                double tokens, double trainSeconds, double[][] gates, double[] memoryNorms, boolean skipped) {
    }

    /** Mean validation loss (nats per token) after {@code step}. */
    record Validation(long step, double loss) {
    }

    default void started(Start start) {
    }

    default void stepped(Step step) {
    }

    default void validated(Validation validation) {
    }

    /** The run ended normally with this summary (not called when it failed). */
    default void finished(TrainSummary summary) {
    }

    /** One listener calling each of {@code listeners} in order. */
    static TrainListener all(List<? extends TrainListener> listeners) {
        List<TrainListener> ls = new ArrayList<>(listeners);
        return new TrainListener() {
            @Override
            public void started(Start s) {
                ls.forEach(l -> l.started(s));
            }

            @Override
            public void stepped(Step s) {
                ls.forEach(l -> l.stepped(s));
            }

            @Override
            public void validated(Validation v) {
                ls.forEach(l -> l.validated(v));
            }

            @Override
            public void finished(TrainSummary s) {
                ls.forEach(l -> l.finished(s));
            }
        };
    }
}
