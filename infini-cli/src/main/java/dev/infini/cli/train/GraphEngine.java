package dev.infini.cli.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.cli.ui.StatsFeed;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.train.MemoryGradient;
import dev.infini.samediff.train.SegmentGradients;
import dev.infini.zoo.dl4j.GraphTraining;
import dev.infini.zoo.dl4j.InfiniGraph;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * {@code --engine graph}: the DL4J ComputationGraph form ({@link InfiniGraph}) trained with plain {@code fit}, DL4J's
 * ParallelWrapper ({@code --workers N}) or a Spark TrainingMaster ({@code --spark MASTER}, {@code --spark-mode});
 * the weights then come back to the SameDiff form by name for validation, the checkpoint and the sample.
 *
 * <p>It honours the learning-rate schedule ({@code --lr}, {@code --warmup}, {@code --min-lr-ratio}, as a
 * {@link WarmupCosineSchedule} of DL4J's Adam; with several workers over each worker's share of the steps),
 * {@code --weight-decay}, {@code --gate-lr-multiplier}, {@code --clip} ({@link GlobalNormClipping}),
 * {@code --max-bad-steps} (on one worker it stops at once; with several, after training) and, on one worker,
 * {@code --eval-every} and {@code --checkpoint-every} (weights-only checkpoints). {@link #checkSupported} rejects what
 * it cannot do: {@code --memory-gradient truncated} (its layers back-propagate exactly through the memory),
 * {@code --accumulation} above 1, and with several workers or Spark validation or checkpoints before the end (there
 * both default to the end only).
 */
final class GraphEngine implements TrainingEngine {
    private static final Logger log = LoggerFactory.getLogger(GraphEngine.class);

    private TrainOptions o;
    private TrainingSetup s;
    private ComputationGraph net;
    private final List<ObjectNode> lines = Collections.synchronizedList(new ArrayList<>());
    private int badInARow;
    private Long bestStep;
    private Double bestValLoss;
    private TrainListener listener;
    private GlobalNormClipping norms;
    private long startNanos;
    private long lastStepNanos;

    /** The options this engine cannot honour, each an {@link IllegalArgumentException} naming the option. */
    static void checkSupported(TrainOptions o) {
        boolean distributed = o.workers > 1 || o.spark != null;
        String where = o.spark != null ? "--spark" : "--workers " + o.workers;
        TrainOptions.check(o.memoryGradient != MemoryGradient.TRUNCATED, "--memory-gradient truncated is not supported by "
                + "--engine graph: its layers back-propagate exactly through the memory (full)");
        TrainOptions.check(o.accumulation == 1, "--accumulation " + o.accumulation + " is not supported by --engine graph "
                + "(one update per batch): use --accumulation 1 and a larger --batch");
        TrainOptions.check(!distributed || o.evalEvery() <= 0 || o.evalEvery() >= o.steps, "--eval-every " + o.evalEvery
                + " is not supported by --engine graph with " + where + " (it validates at the end only): use --eval-every 0");
        TrainOptions.check(!distributed || o.checkpointEvery() <= 0 || o.checkpointEvery() >= o.steps, "--checkpoint-every "
                + o.checkpointEvery + " is not supported by --engine graph with " + where
                + " (it checkpoints at the end only): use --checkpoint-every 0");
    }

    @Override
    public TrainSummary train(TrainingSetup setup, TrainListener listener, StatsFeed stats) throws IOException {
        s = setup;
        o = setup.options();
        this.listener = listener;
        int updatesPerCopy = (o.steps + o.workers - 1) / o.workers;
        WarmupCosineSchedule schedule = new WarmupCosineSchedule(o.lr, o.warmup, updatesPerCopy, o.minLrRatio);
        net = InfiniGraph.fromModel(setup.model(), new InfiniGraph.Options().updater(new Adam(schedule))
                .gateUpdater(new Adam(schedule.scaled(o.gateLrMultiplier))).weightDecay(o.weightDecay)
                .segmentSize(o.segment).seed(o.seed).kernel(setup.model().kernel()));
        // Clips by global norm with --clip, and measures the norm for the listeners either way.
        norms = new GlobalNormClipping(o.clip);
        List<TrainingListener> listeners = new ArrayList<>(List.of(norms));
        if (stats != null) {
            listeners.add(stats.dl4jListener());
        }
        boolean oneWorker = o.workers <= 1 && o.spark == null;
        listener.started(new TrainListener.Start(Engine.GRAPH.key(), 0, o.steps, setup.model().config().parameterCount(),
                setup.model().config().numLayers(), o.batch, o.seqLen, setup.model().config().toJson().toString()));
        startNanos = System.nanoTime();
        lastStepNanos = startNanos;
        GraphTraining.Result r = GraphTraining.fit(net, setup.data().train(), new GraphTraining.Options()
                .workers(o.workers).sparkMaster(o.spark).sparkMode(o.sparkModeOrDefault()).steps(o.steps)
                .listeners(listeners.toArray(new TrainingListener[0]))
                // Each worker's updater counts its own updates: step k (all workers together) is update (k-1)/workers.
                .onLoss((step, loss) -> stepDone(step, loss, schedule.valueAt((step - 1) / o.workers, 0), oneWorker)));
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        if (!oneWorker) {
            checkBadSteps(r.losses());
        }
        return finish(r, seconds);
    }

    /**
     * A recorded step: its metrics line; on one worker also the non-finite guard, validation and checkpoint; then the
     * listener's events (one at a time: ParallelWrapper's workers report from their own threads).
     */
    private synchronized void stepDone(int step, double loss, double lr, boolean oneWorker) {
        ObjectNode line = RunArtifacts.line().put("step", step).put("loss", loss).put("lr", lr);
        double vl = Double.NaN;
        if (oneWorker) {
            badInARow = Double.isFinite(loss) ? 0 : badInARow + 1;
            if (badInARow >= o.maxBadSteps) {
                throw new IllegalStateException("stopping: " + badInARow + " non-finite steps in a row (lower --lr or "
                        + "check the data)");
            }
            if (o.evalEvery() > 0 && step % o.evalEvery() == 0 && step < o.steps) {
                vl = RunArtifacts.validationLoss(new SegmentGradients(trained(), o.segment), s.data().validation());
                line.put("val_loss", vl);
            }
        }
        lines.add(line);
        if (oneWorker && o.checkpointEvery() > 0 && step % o.checkpointEvery() == 0 && step < o.steps) {
            saveWeights(trained(), step);
        }
        long now = System.nanoTime();
        double stepTokens = (double) o.batch * o.seqLen;
        listener.stepped(new TrainListener.Step(step, o.steps, loss, lr, norms.lastNorm(),
                stepTokens / Math.max((now - lastStepNanos) / 1e9, 1e-9), step * stepTokens, (now - startNanos) / 1e9,
                gates(), new double[0], !Double.isFinite(loss)));
        lastStepNanos = now;
        if (!Double.isNaN(vl)) {
            listener.validated(new TrainListener.Validation(step, vl));
        }
    }

    /** Sigmoid of every layer's gates, {@code [layer][head]}, from the network's (with several workers: the averaged) parameters. */
    private double[][] gates() {
        int layers = s.model().config().numLayers();
        double[][] out = new double[layers][];
        for (int i = 0; i < layers; i++) {
            double[] g = net.getLayer(InfiniGraph.layerName(i)).getParam("gate").castTo(DataType.DOUBLE).ravel().toDoubleVector();
            for (int h = 0; h < g.length; h++) {
                g[h] = 1 / (1 + Math.exp(-g[h]));
            }
            out[i] = g;
        }
        return out;
    }

    /** With several workers the guard can only look back: a run of {@code --max-bad-steps} non-finite losses fails it. */
    private void checkBadSteps(List<Double> losses) {
        int run = 0;
        for (double l : losses) {
            run = Double.isFinite(l) ? 0 : run + 1;
            if (run >= o.maxBadSteps) {
                throw new IllegalStateException("stopping: " + run + " non-finite steps in a row (lower --lr or check the "
                        + "data); no checkpoint written");
            }
        }
    }

    private InfiniModel trained() {
        return InfiniGraph.toModel(net, DataType.FLOAT);
    }

    /** A weights-only checkpoint-N (not resumable: the optimizer lives in DL4J), with the losses recorded so far. */
    private void saveWeights(InfiniModel m, long step) {
        TrainingCheckpoint.State st = new TrainingCheckpoint.State();
        st.step = step;
        st.options = o;
        synchronized (lines) {
            for (ObjectNode l : lines) {
                long at = l.get("step").asLong();
                if (l.has("loss")) {
                    st.trainLoss.add(new double[] {at, l.get("loss").asDouble()});
                }
                if (l.has("val_loss")) {
                    st.valLoss.add(new double[] {at, l.get("val_loss").asDouble()});
                }
            }
        }
        st.trainLoss.sort((x, y) -> Double.compare(x[0], y[0]));
        st.valLoss.sort((x, y) -> Double.compare(x[0], y[0]));
        st.bestStep = bestStep;
        st.bestValLoss = bestValLoss;
        try {
            s.checkpoints().save(m, null, st);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        bestStep = st.bestStep;
        bestValLoss = st.bestValLoss;
    }

    /** metrics.jsonl, the final validation, the (weights-only) checkpoint, plot and sample. */
    private TrainSummary finish(GraphTraining.Result r, double seconds) throws IOException {
        InfiniModel trained = trained();
        List<double[]> trainLoss = new ArrayList<>(), valLoss = new ArrayList<>();
        double vl = RunArtifacts.validationLoss(new SegmentGradients(trained, o.segment), s.data().validation());
        try (RunArtifacts a = new RunArtifacts(s.runDir(), o, 0)) {
            List<ObjectNode> sorted = new ArrayList<>(lines);
            sorted.sort((x, y) -> Integer.compare(x.get("step").asInt(), y.get("step").asInt()));
            for (ObjectNode line : sorted) {
                a.metric(line.put("engine", r.engine()));
                trainLoss.add(new double[] {line.get("step").asInt(), line.get("loss").asDouble()});
                if (line.has("val_loss")) {
                    valLoss.add(new double[] {line.get("step").asInt(), line.get("val_loss").asDouble()});
                }
            }
            long steps = r.losses().size();
            valLoss.add(new double[] {steps, vl});
            a.metric(RunArtifacts.line().put("step", steps).put("val_loss", vl));
            lines.add(RunArtifacts.line().put("step", steps).put("val_loss", vl));
            saveWeights(trained, steps);
            listener.validated(new TrainListener.Validation(steps, vl));
            RunArtifacts.Final f = a.finish(trained, s.tokenizer(), s.data(), trainLoss, valLoss,
                    "Infini-attention, " + r.engine());
            double tokens = (double) r.minibatches() * o.batch * o.seqLen;
            log.info("{}: {} minibatches in {} s", r.engine(), r.minibatches(), String.format("%.1f", seconds));
            return new TrainSummary(steps, tokens / seconds, RunArtifacts.recentMean(trainLoss, 10), vl, Math.exp(vl),
                    f.unigramPpl(), seconds, trained.config().parameterCount(), r.engine(),
                    s.model().kernel().key(), MemoryGradient.FULL.key(),
                    f.sample(), s.runDir(), trainLoss);
        }
    }
}
