package dev.infini.cli.train;

import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.function.Consumer;

/**
 * A training run: its options checked ({@link TrainOptions#validate()}), its start prepared
 * ({@link TrainingSetup}: model, tokenizer, data, resumed state), then trained by the engine of {@code --engine}
 * ({@link SameDiffEngine} or {@link GraphEngine}), which leaves the checkpoint and the {@link RunArtifacts} and
 * returns the {@link TrainSummary}.
 */
public final class Trainer {
    private final TrainOptions o;
    private final Path resumeFrom;
    private Consumer<String> progress = s -> { };

    /** A fresh run with these options, or (with {@code resumeFrom}) the continuation of a checkpointed one. */
    public Trainer(TrainOptions options, Path resumeFrom) {
        this.o = options;
        this.resumeFrom = resumeFrom;
    }

    /** Receives a progress line after every step (the command draws it as a bar). */
    public Trainer onProgress(Consumer<String> p) {
        this.progress = p;
        return this;
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
            return TrainingEngine.of(o.engine).train(setup, progress);
        }
    }
}
