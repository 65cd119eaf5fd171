package dev.infini.cli.train;

import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.train.AdamW;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.hf.SafeTensors;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The checkpoints of a run: each {@code checkpoint-N/} (N = step) holds the weights as a Hugging Face checkpoint
 * ({@code config.json} + {@code model.safetensors}, loadable by every tool), {@code optimizer.safetensors} (AdamW
 * moments), {@code trainer.json} (step, data position, options, metrics so far) and what makes it self-contained
 * ({@link CheckpointFiles}: tokenizer files, {@code generation_config.json}, a {@code README.md} model card).
 *
 * <p>The newest {@code --keep-checkpoints} are kept, plus {@code best} (a link to the one of lowest validation loss,
 * where validation ran at a checkpoint step); {@code checkpoint} links to the newest. Writes are durable and atomic
 * ({@link CheckpointDirs}): a kill at any moment leaves whole checkpoints only, and {@link #locate} finds the newest.
 */
public final class TrainingCheckpoint {
    private static final Logger log = LoggerFactory.getLogger(TrainingCheckpoint.class);
    /** The link to the newest checkpoint of a run directory (the directory itself in older versions). */
    public static final String DIR = CheckpointDirs.LATEST;
    /** The link to the checkpoint of lowest validation loss. */
    public static final String BEST = CheckpointDirs.BEST;
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "trainer.json";
    /** Enum options are read in any case: older checkpoints hold "samediff", "averaging", newer ones "FULL". */
    private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS).build();

    private final Path runDir;
    private final int keep;
    private final CheckpointFiles files;
    private Path latest;

    /** What trainer.json holds. */
    public static final class State {
        public long step;
        public long optimizerStep;
        public String dataState;
        public int badStepsInARow;
        public TrainOptions options;
        public java.util.List<double[]> trainLoss = new java.util.ArrayList<>();
        public java.util.List<double[]> valLoss = new java.util.ArrayList<>();
        public double tokensSeen;
        public double seconds;
        /** The step and validation loss of {@code best} (null: none yet). */
        public Long bestStep;
        public Double bestValLoss;
    }

    /**
     * The checkpoints of a run directory (locked by this run, its leftovers cleared) starting at {@code state}'s
     * step: checkpoints newer than that step (a replaced run's) are removed, the links set.
     *
     * @param resumed the checkpoint the run resumes from, null for a new run
     */
    TrainingCheckpoint(Path runDir, TrainOptions o, CheckpointFiles files, State state, Path resumed) throws IOException {
        this.runDir = runDir;
        this.keep = o.keepCheckpoints;
        this.files = files;
        CheckpointDirs.startAt(runDir, state.step);
        if (state.bestStep != null && Files.isDirectory(CheckpointDirs.dir(runDir, state.bestStep))) {
            CheckpointDirs.link(runDir, BEST, CheckpointDirs.PREFIX + state.bestStep);
        } else {
            CheckpointDirs.unlink(runDir, BEST);
        }
        this.latest = resumed;
    }

    /** The newest checkpoint written or resumed from, null if none. */
    Path latest() {
        return latest;
    }

    /**
     * Writes {@code checkpoint-N/} of {@code state.step}: weights, the self-contained files and, with an optimizer,
     * AdamW moments and trainer state (resumable); without (the graph engine's, whose optimizer lives in DL4J) the
     * weights only. It becomes {@code best} when validation ran at this step with the lowest loss so far; the
     * oldest beyond {@code --keep-checkpoints} are then deleted.
     */
    Path save(InfiniModel model, AdamW adam, State state) throws IOException {
        double[] val = state.valLoss.isEmpty() ? null : state.valLoss.get(state.valLoss.size() - 1);
        boolean best = val != null && (long) val[0] == state.step && Double.isFinite(val[1])
                && (state.bestValLoss == null || val[1] < state.bestValLoss);
        if (best) {
            state.bestStep = state.step;
            state.bestValLoss = val[1];
        }
        latest = CheckpointDirs.publish(runDir, state.step, dir -> {
            HfCheckpoint.save(model, dir);
            files.write(dir, model.config(), state);
            CheckpointDirs.hook("weights", state.step);
            if (adam != null) {
                Map<String, INDArray> opt = new LinkedHashMap<>(adam.state());
                SafeTensors.write(dir.resolve(OPTIMIZER), opt, SafeTensors.Dtype.F32,
                        Map.of("step", Long.toString(adam.step())));
                Files.writeString(dir.resolve(STATE), JSON.writeValueAsString(state));
            }
        });
        if (best) {
            CheckpointDirs.link(runDir, BEST, latest.getFileName().toString());
            log.info("{}: best validation loss so far ({}), {} -> {}", runDir, String.format("%.4f", val[1]), BEST,
                    latest.getFileName());
        }
        CheckpointDirs.rotate(runDir, keep, state.bestStep);
        return latest;
    }

    /** The options as checkpoints hold them (trainer.json's {@code options}). */
    public static String toJson(TrainOptions options) throws IOException {
        return JSON.writeValueAsString(options);
    }

    /** Options read back from their JSON form (older checkpoints' included). */
    public static TrainOptions optionsFromJson(String json) throws IOException {
        return JSON.readValue(json, TrainOptions.class);
    }

    /**
     * Whether {@code dir} is a resumable checkpoint (trainer state and optimizer moments; a {@code checkpoint-N/}
     * is whole by construction: it appears by one rename once everything in it is written and fsynced).
     */
    public static boolean isCheckpoint(Path dir) {
        return Files.isRegularFile(dir.resolve(STATE)) && Files.isRegularFile(dir.resolve(OPTIMIZER));
    }

    /**
     * The checkpoint to resume from: {@code dir} itself if it is one, else the newest whole {@code checkpoint-N/}
     * of the run directory {@code dir} (or {@code checkpoint-N.old/}, where a kill came between the two renames that
     * replace a checkpoint of the same step; then, from older versions, {@code checkpoint/} and
     * {@code checkpoint.old/});
     * an {@link IOException} saying what was looked for when there is none.
     */
    public static Path locate(Path dir) throws IOException {
        if (isCheckpoint(dir)) {
            return dir;
        }
        for (Path p : CheckpointDirs.candidates(dir)) {
            if (isCheckpoint(p)) {
                return p;
            }
        }
        for (String old : new String[] {DIR, DIR + CheckpointDirs.OLD}) {
            if (isCheckpoint(dir.resolve(old))) {
                return dir.resolve(old);
            }
        }
        throw new IOException(dir + ": no training checkpoint here (expected " + CheckpointDirs.PREFIX + "N/" + STATE
                + " with " + OPTIMIZER + ", or " + STATE + " in " + dir + " itself)");
    }

    /** The run directory of what {@code --resume} was given: a checkpoint's parent, or the run directory itself. */
    public static Path runDirOf(Path resume) {
        if (!isCheckpoint(resume)) {
            return resume;
        }
        Path parent = resume.getParent();
        return parent != null ? parent : resume.toAbsolutePath().getParent();
    }

    public static State readState(Path checkpoint) throws IOException {
        return JSON.readValue(checkpoint.resolve(STATE).toFile(), State.class);
    }

    /** Restores AdamW's moments and step from a checkpoint. */
    public static void restoreOptimizer(Path checkpoint, AdamW adam, long step) throws IOException {
        Map<String, INDArray> st = new LinkedHashMap<>();
        try (SafeTensors.Reader r = SafeTensors.open(checkpoint.resolve(OPTIMIZER))) {
            for (String name : r.tensors().keySet()) {
                st.put(name, r.readFloat(name));
            }
        }
        adam.restore(st, step);
    }
}
