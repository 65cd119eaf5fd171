package dev.infini.cli.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.cli.ui.StatsFeed;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.train.AdamW;
import dev.infini.samediff.train.LrSchedule;
import dev.infini.samediff.train.OptimizerStep;
import dev.infini.samediff.train.SegmentGradients;
import dev.infini.samediff.train.TrainBatch;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code --engine samediff}, the training loop of this project: batches of {@code seq_len} tokens, each run segment
 * by segment with the memory passed on ({@link SegmentGradients}), {@code --accumulation} batches per AdamW step on
 * the warmup+cosine {@link LrSchedule}, global-norm clipping, the non-finite-step guard, validation every
 * {@code --eval-every} steps, atomic checkpoints every {@code --checkpoint-every} steps and at the end, resume.
 */
final class SameDiffEngine implements TrainingEngine {
    private static final Logger log = LoggerFactory.getLogger(SameDiffEngine.class);

    private TrainOptions o;
    private TrainingSetup s;
    private TrainingCheckpoint.State state;
    private AdamW adam;
    private OptimizerStep stepper;
    private SegmentGradients evaluator;
    private LrSchedule schedule;
    private RunArtifacts artifacts;
    private double trainSeconds;
    private double tokens;
    private TrainListener listener;

    @Override
    public TrainSummary train(TrainingSetup setup, TrainListener listener, StatsFeed stats) throws IOException {
        this.listener = stats == null ? listener : TrainListener.all(List.of(listener, stats.listener()));
        s = setup;
        o = setup.options();
        state = setup.state();
        InfiniModel model = setup.model();
        adam = new AdamW(model, new AdamW.Settings(0.9, 0.95, 1e-8, o.weightDecay, o.gateLrMultiplier));
        if (setup.checkpoint() != null) {
            TrainingCheckpoint.restoreOptimizer(setup.checkpoint(), adam, state.optimizerStep);
        }
        stepper = new OptimizerStep(model, o.segment, o.memoryGradient, adam, o.clip);
        evaluator = new SegmentGradients(model, o.segment);
        schedule = new LrSchedule(o.lr, o.warmup, o.steps, o.minLrRatio);
        trainSeconds = state.seconds;
        tokens = state.tokensSeen;
        try (RunArtifacts a = new RunArtifacts(setup.runDir(), o, state.step)) {
            artifacts = a;
            this.listener.started(new TrainListener.Start(Engine.SAMEDIFF.key(), state.step, o.steps,
                    model.config().parameterCount(), model.config().numLayers(), o.batch, o.seqLen,
                    model.config().toJson().toString()));
            DataSetIterator train = setup.data().train();
            while (state.step < o.steps) {
                step(train);
            }
            return finish();
        }
    }

    /**
     * One optimizer step: its batches, the update (or a skip), metrics, validation and checkpoint when due, then the
     * listener's events.
     */
    private void step(DataSetIterator train) throws IOException {
        List<TrainBatch> micro = new ArrayList<>();
        for (int a = 0; a < o.accumulation; a++) {
            if (!train.hasNext()) {
                train.reset();
            }
            micro.add(TrainingData.toBatch(train.next()));
        }
        double lr = schedule.at(state.optimizerStep + 1);
        long t0 = System.nanoTime();
        OptimizerStep.Stats st = stepper.step(micro, lr);
        double dt = (System.nanoTime() - t0) / 1e9;
        double stepTokens = micro.stream().mapToDouble(TrainBatch::inputTokens).sum();
        state.step++;
        trainSeconds += dt;
        tokens += stepTokens;
        recordOutcome(st);
        ObjectNode line = RunArtifacts.line().put("step", state.step).put("loss", st.loss())
                .put("grad_norm", st.gradNorm()).put("lr", lr).put("tokens", stepTokens)
                .put("tokens_per_s", stepTokens / dt).put("seconds", dt).put("skipped", st.skipped());
        double vl = Double.NaN;
        if (o.evalEvery() > 0 && state.step % o.evalEvery() == 0 && state.step < o.steps) {
            vl = RunArtifacts.validationLoss(evaluator, s.data().validation());
            state.valLoss.add(new double[] {state.step, vl});
            line.put("val_loss", vl);
        }
        artifacts.metric(line);
        state.dataState = s.data().position().get();
        state.seconds = trainSeconds;
        state.tokensSeen = tokens;
        // Never checkpoint right after a skipped step: the last good checkpoint stays as it is.
        if (o.checkpointEvery() > 0 && state.step % o.checkpointEvery() == 0 && state.step < o.steps
                && state.badStepsInARow == 0) {
            s.checkpoints().save(s.model(), adam, state);
        }
        listener.stepped(new TrainListener.Step(state.step, o.steps, st.loss(), lr, st.gradNorm(), stepTokens / dt,
                tokens, trainSeconds, s.model().gateValues(), st.memoryNorms(), st.skipped()));
        if (!Double.isNaN(vl)) {
            listener.validated(new TrainListener.Validation(state.step, vl));
        }
        CheckpointDirs.hook("step", state.step);
    }

    /** Counts a skipped (non-finite) step, stopping after {@code --max-bad-steps} in a row, or records the loss. */
    private void recordOutcome(OptimizerStep.Stats st) {
        if (st.skipped()) {
            state.badStepsInARow++;
            log.warn("step {}: non-finite loss/gradient ({} in a row), skipped", state.step, state.badStepsInARow);
            if (state.badStepsInARow >= o.maxBadSteps) {
                Path last = s.checkpoints().latest();
                throw new IllegalStateException("stopping: " + state.badStepsInARow + " non-finite steps in a row "
                        + "(lower --lr or check the data); " + (last != null ? "the last good checkpoint is " + last
                        : "no checkpoint was written (" + (o.checkpointEvery() > 0 ? "the first was due at step "
                        + o.checkpointEvery() : "--checkpoint-every 0: only at the end") + ")"));
            }
        } else {
            state.badStepsInARow = 0;
            state.optimizerStep = adam.step();
            state.trainLoss.add(new double[] {state.step, st.loss()});
        }
    }

    /** Final evaluation, checkpoint, plot and sample. */
    private TrainSummary finish() throws IOException {
        double vl = RunArtifacts.validationLoss(evaluator, s.data().validation());
        state.valLoss.add(new double[] {state.step, vl});
        artifacts.metric(RunArtifacts.line().put("step", state.step).put("val_loss", vl));
        listener.validated(new TrainListener.Validation(state.step, vl));
        s.checkpoints().save(s.model(), adam, state);
        RunArtifacts.Final f = artifacts.finish(s.model(), s.tokenizer(), s.data(), state.trainLoss, state.valLoss,
                "Infini-attention " + (o.init != null ? "fine-tuning" : o.preset) + ", " + o.memoryGradient.key()
                        + " memory gradient");
        return new TrainSummary(state.step, tokens / Math.max(trainSeconds, 1e-9), RunArtifacts.recentMean(state.trainLoss, 10),
                vl, Math.exp(vl), f.unigramPpl(), trainSeconds, s.model().config().parameterCount(), Engine.SAMEDIFF.key(),
                s.model().kernel().key(),
                o.memoryGradient.key(), f.sample(), s.runDir(), state.trainLoss);
    }
}
