package dev.infini.cli.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.cli.text.Tokenizers;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.InfiniConfig;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.zip.GZIPInputStream;

/**
 * What makes a checkpoint directory self-contained besides the weights: the tokenizer files (a Hugging Face
 * {@code tokenizer.json} with its {@code tokenizer_config.json} and {@code special_tokens_map.json} when the run
 * had them, or the description of the byte tokenizer that {@link Tokenizers#forModel} reads), a
 * {@code generation_config.json} and a {@code README.md} model card. The tokenizer files are read once, when the run
 * starts, so that a checkpoint never depends on files that may since have moved.
 */
final class CheckpointFiles {
    static final String GENERATION_CONFIG = "generation_config.json";
    static final String CARD = "README.md";
    private static final List<String> COMPANIONS = List.of(Tokenizers.TOKENIZER_CONFIG, "special_tokens_map.json");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final TrainOptions o;
    private final Tokenizer tok;
    /** File name to bytes: what is copied into each checkpoint. */
    private final Map<String, byte[]> tokenizerFiles;
    private final String tokenizerSource;

    private CheckpointFiles(TrainOptions o, Tokenizer tok, Map<String, byte[]> files, String source) {
        this.o = o;
        this.tok = tok;
        this.tokenizerFiles = files;
        this.tokenizerSource = source;
    }

    /** The files of a run whose tokenizer came from {@code tokenizerFile} (null: the byte tokenizer). */
    static CheckpointFiles of(TrainOptions o, Tokenizer tok, Path tokenizerFile) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        if (tokenizerFile == null) {
            files.put(Tokenizers.TOKENIZER_CONFIG, (Tokenizers.byteDescription().toPrettyString() + "\n").getBytes());
            return new CheckpointFiles(o, tok, files, "byte-level (UTF-8 bytes, " + ByteTokenizer.VOCAB_SIZE + " ids)");
        }
        byte[] bytes = Files.readAllBytes(tokenizerFile);
        if (tokenizerFile.getFileName().toString().endsWith(".gz")) {
            try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(bytes))) {
                bytes = in.readAllBytes();
            }
        }
        files.put(Tokenizers.TOKENIZER_JSON, bytes);
        Path dir = tokenizerFile.toAbsolutePath().getParent();
        for (String name : COMPANIONS) {
            Path companion = dir.resolve(name);
            if (Files.isRegularFile(companion)) {
                files.put(name, Files.readAllBytes(companion));
            }
        }
        return new CheckpointFiles(o, tok, files, tokenizerFile.toString());
    }

    /** Writes the tokenizer files, generation_config.json and the model card into {@code dir}. */
    void write(Path dir, InfiniConfig c, TrainingCheckpoint.State state) throws IOException {
        for (Map.Entry<String, byte[]> f : tokenizerFiles.entrySet()) {
            Files.write(dir.resolve(f.getKey()), f.getValue());
        }
        ObjectNode gen = JSON.createObjectNode();
        gen.put("bos_token_id", tok.bosId());
        gen.put("eos_token_id", tok.eosId());
        gen.put("pad_token_id", tok.padId());
        // The memory carries context past each segment, so no length limit comes from the model; this is the length
        // the run trained on, a sensible default for a prompt and its continuation.
        gen.put("max_length", o.seqLen);
        gen.put("do_sample", true);
        gen.put("temperature", 0.8);
        gen.put("top_p", 0.95);
        Files.writeString(dir.resolve(GENERATION_CONFIG), gen.toPrettyString() + "\n");
        Files.writeString(dir.resolve(CARD), card(dir, c, state));
    }

    /** The model card: what the model is, how it was made, how well it did, how to use it. */
    String card(Path dir, InfiniConfig c, TrainingCheckpoint.State state) {
        double train = RunArtifacts.recentMean(state.trainLoss, 10);
        double[] lastVal = state.valLoss.isEmpty() ? null : state.valLoss.get(state.valLoss.size() - 1);
        String name = dir.getFileName().toString().replaceFirst("\\.tmp$", "");
        StringBuilder b = new StringBuilder();
        b.append("---\ntags:\n- infini-attention\n- text-generation\n---\n\n");
        b.append("# ").append(name).append(": an Infini-attention ").append(c.family().modelType())
                .append(" decoder, step ").append(state.step).append(" of ").append(o.steps).append("\n\n");
        b.append("Trained with `infini train` (Deeplearning4j/SameDiff). The weights are a Hugging Face checkpoint ")
                .append("(`config.json` + safetensors) plus one gate per layer (`self_attn.gate`) and the keys ")
                .append("`segment_size` and `memory_update`: a tool that does not know Infini-attention would run it ")
                .append("without its compressive memory.\n\n");
        row(b, "| | |\n|---|---|\n", "base model", o.init != null ? "`" + o.init + "`" : "from scratch (preset `" + o.preset
                + "`, seed " + o.seed + ")");
        row(b, "", "shape", String.format("%s, vocab %d, hidden %d, %d layers, %d/%d heads of %d, MLP %d; %,d parameters",
                c.family().modelType(), c.vocabSize(), c.hiddenSize(), c.numLayers(), c.numHeads(), c.numKvHeads(),
                c.headDim(), c.intermediateSize(), c.parameterCount()));
        row(b, "", "segment size", Integer.toString(c.segmentSize()));
        row(b, "", "memory rule", c.memoryUpdate().key() + " (memory gradient " + o.memoryGradient.key() + ")");
        if (c.tokenShift()) {
            row(b, "", "token shift", "on (`token_shift`, beyond the paper): each position adds a learnt embedding of "
                    + "the token before it in its segment (`" + dev.infini.samediff.TensorNames.PREV_EMBED + "`)");
        }
        row(b, "", "data", o.corpus.equals(TrainingData.RECALL)
                ? "`recall` (associative recall): " + o.pairs + " pairs, gaps " + o.gaps + ", samples of (gap + 2) x "
                        + (o.recallBlock != null ? o.recallBlock : o.segment) + " bytes, " + o.batch * o.accumulation
                        + " per step; validation: other samples of the same task"
                : "`" + o.corpus + "`, sequences of " + o.seqLen + " tokens, " + o.batch * o.accumulation
                        + " per step, " + o.valFraction + " of the documents held out for validation");
        row(b, "", "tokenizer", tokenizerSource);
        row(b, "", "steps", state.step + " of " + o.steps);
        row(b, "", "train loss", Double.isFinite(train) ? String.format("%.4f (mean of the last 10 steps)", train) : "-");
        row(b, "", "validation loss", lastVal == null ? "not measured yet"
                : String.format("%.4f (step %d)", lastVal[1], (long) lastVal[0]));
        b.append("\nCommand (the run's options, defaults left out):\n\n```\n").append(command(o)).append("\n```\n\n");
        b.append("Generate (the tokenizer files next to the weights are found by themselves):\n\n```\n./infini generate --model ")
                .append(name).append(" --prompt \"...\"\n```\n");
        return b.toString();
    }

    private static void row(StringBuilder b, String head, String key, String value) {
        b.append(head).append("| ").append(key).append(" | ").append(value.replace("|", "\\|")).append(" |\n");
    }

    /** The {@code ./infini train} command that gives these options: every option whose value is not the default. */
    static String command(TrainOptions o) {
        TrainOptions defaults = new TrainOptions();
        StringBuilder b = new StringBuilder("./infini train");
        for (OptionSpec opt : CommandSpec.forAnnotatedObject(defaults).options()) {
            if (!(opt.userObject() instanceof Field f)) {
                continue;
            }
            try {
                Object v = f.get(o);
                if (v != null && !Objects.equals(v, f.get(defaults))) {
                    String s = v instanceof Enum<?> e ? e.name().toLowerCase(java.util.Locale.ROOT) : v.toString();
                    b.append(' ').append(opt.longestName());
                    if (opt.arity().max() > 0) {            // a flag (--token-shift) takes no value
                        b.append(' ').append(quoted(s));
                    }
                }
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        return b.toString();
    }

    private static String quoted(String s) {
        return s.matches("[A-Za-z0-9_./:=,+@%-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }

    /** The tokenizer file of a run: --tokenizer FILE, else tokenizer.json next to --init, else null (byte-level). */
    static Path tokenizerFile(TrainOptions o) {
        if (o.tokenizer != null && !o.tokenizer.equals("byte")) {
            return Paths.get(o.tokenizer);
        }
        if (o.tokenizer == null && o.init != null && Files.isRegularFile(Paths.get(o.init, Tokenizers.TOKENIZER_JSON))) {
            return Paths.get(o.init, Tokenizers.TOKENIZER_JSON);
        }
        return null;
    }
}
