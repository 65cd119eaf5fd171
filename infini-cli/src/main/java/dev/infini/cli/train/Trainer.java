package dev.infini.cli.train;

import dev.infini.cli.ui.StatsFeed;

import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * A training run: its options checked ({@link TrainOptions#validate()}), its start prepared
 * ({@link TrainingSetup}: model, tokenizer, data, resumed state), then trained by the engine of {@code --engine}
 * ({@link SameDiffEngine} or {@link GraphEngine}), which leaves the checkpoint and the {@link RunArtifacts} and
 * returns the {@link TrainSummary}. Its {@link TrainListener}s hear every step whatever the engine; with {@code --ui}
 * or {@code --stats-file} the DL4J training UI is fed too ({@link StatsFeed}).
 */
public final class Trainer {
    private final TrainOptions o;
    private final Path resumeFrom;
    private final List<TrainListener> listeners = new ArrayList<>();
    private StatsFeed feed;

    /** A fresh run with these options, or (with {@code resumeFrom}) the continuation of a checkpointed one. */
    public Trainer(TrainOptions options, Path resumeFrom) {
        this.o = options;
        this.resumeFrom = resumeFrom;
    }

    /** Receives a progress line after every step (the command draws it as a bar): a {@link ProgressLine}. */
    public Trainer onProgress(Consumer<String> p) {
        return addListener(new ProgressLine(p));
    }

    /** Adds a listener of the run's events (called in the order added). */
    public Trainer addListener(TrainListener l) {
        listeners.add(l);
        return this;
    }

    /** The DL4J UI feed of this run ({@code --ui}, {@code --stats-file}), null without one or before {@link #run}. */
    public StatsFeed statsFeed() {
        return feed;
    }

    /** The options a checkpoint was written with (for {@code --resume}). */
    public static TrainOptions optionsOf(Path resumeDir) throws IOException {
        return TrainingCheckpoint.readState(TrainingCheckpoint.locate(resumeDir)).options;
    }

    /**
     * Trains and returns the summary. Bad options and an unusable {@code --out} fail before any model work; the run
     * directory is locked ({@link RunLock}) for the whole run, so a second run on it fails at once.
     */
    public TrainSummary run() throws IOException {
        o.validate();
        if (resumeFrom != null && o.engine != Engine.SAMEDIFF) {
            throw new IllegalArgumentException("--resume is supported by --engine samediff only");
        }
        Path runDir = OutputPaths.directory("--out", Paths.get(o.out));
        try (RunLock lock = RunLock.acquire(runDir)) {
            CheckpointDirs.clearLeftovers(runDir);
            TrainingSetup setup = TrainingSetup.prepare(o, resumeFrom);
            return train(setup);
        }
    }

    /** Runs the engine with the listeners and, with {@code --ui} or {@code --stats-file}, the DL4J UI feed. */
    private TrainSummary train(TrainingSetup setup) throws IOException {
        TrainListener all = TrainListener.all(listeners);
        // Only a run with --ui or --stats-file loads the UI classes (the Spark bundle leaves them out).
        feed = o.ui != null || o.statsFile != null ? StatsFeed.open(o.ui, o.statsFile) : null;
        boolean done = false;
        try {
            TrainSummary summary = TrainingEngine.of(o.engine).train(setup, all, feed);
            all.finished(summary);
            done = true;
            return summary;
        } finally {
            if (feed != null) {
                // --ui-wait keeps the UI up after a run that ended well (the command then waits for Ctrl-C).
                feed.close(done && o.uiWait);
            }
        }
    }
}
