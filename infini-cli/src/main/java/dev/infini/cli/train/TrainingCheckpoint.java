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

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A training checkpoint directory: the weights as a Hugging Face checkpoint ({@code config.json} +
 * {@code model.safetensors}, loadable by every tool), {@code optimizer.safetensors} (AdamW moments) and
 * {@code trainer.json} (step, data position, options, metrics so far).
 *
 * <p>Written atomically: into a temporary directory that then replaces {@code checkpoint/}, the previous
 * one kept as {@code checkpoint.old/} until the swap is done; a kill at any moment leaves one whole
 * checkpoint, which {@link #locate} finds.
 */
public final class TrainingCheckpoint {
    public static final String DIR = "checkpoint";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "trainer.json";
    /** Enum options are read in any case: older checkpoints hold "samediff", "averaging", newer ones "FULL". */
    private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS).build();

    private TrainingCheckpoint() {
    }

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
    }

    /** Writes a whole (resumable) checkpoint: weights, AdamW moments and trainer state. */
    public static void save(Path runDir, InfiniModel model, AdamW adam, State state) throws IOException {
        Path tmp = prepareTmp(runDir, model);
        Map<String, INDArray> opt = new LinkedHashMap<>(adam.state());
        SafeTensors.write(tmp.resolve(OPTIMIZER), opt, SafeTensors.Dtype.F32, Map.of("step", Long.toString(adam.step())));
        Files.writeString(tmp.resolve(STATE), JSON.writeValueAsString(state));
        swap(runDir, tmp);
    }

    /**
     * Writes the weights alone as {@code checkpoint/} (a Hugging Face checkpoint, atomically; not resumable: the
     * graph engine's, whose optimizer lives in DL4J).
     */
    public static void saveWeights(Path runDir, InfiniModel model) throws IOException {
        swap(runDir, prepareTmp(runDir, model));
    }

    /** The options as checkpoints hold them (trainer.json's {@code options}). */
    public static String toJson(TrainOptions options) throws IOException {
        return JSON.writeValueAsString(options);
    }

    /** Options read back from their JSON form (older checkpoints' included). */
    public static TrainOptions optionsFromJson(String json) throws IOException {
        return JSON.readValue(json, TrainOptions.class);
    }

    private static Path prepareTmp(Path runDir, InfiniModel model) throws IOException {
        Path tmp = runDir.resolve(DIR + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        HfCheckpoint.save(model, tmp);
        return tmp;
    }

    private static void swap(Path runDir, Path tmp) throws IOException {
        Path cur = runDir.resolve(DIR), old = runDir.resolve(DIR + ".old");
        deleteTree(old);
        if (Files.exists(cur)) {
            Files.move(cur, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(tmp, cur, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    /** The whole checkpoint of a run directory (or the checkpoint directory itself), or an error saying why not. */
    public static Path locate(Path dir) throws IOException {
        for (Path p : new Path[] {dir, dir.resolve(DIR), dir.resolve(DIR + ".old")}) {
            if (Files.isRegularFile(p.resolve(STATE)) && Files.isRegularFile(p.resolve(OPTIMIZER))) {
                return p;
            }
        }
        throw new IOException(dir + ": no training checkpoint here (expected " + DIR + "/" + STATE + ")");
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

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
