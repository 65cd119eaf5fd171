package dev.infini.cli.train;

import dev.infini.cli.text.Tokenizers;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.datasets.tokenize.HfTokenizer;
import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.Presets;
import dev.infini.samediff.hf.HfCheckpoint;
import org.nd4j.linalg.api.buffer.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * What a run starts from, made from its options: the model (a fresh one from the preset and its overrides, an
 * {@code --init} checkpoint, or the {@code --resume} checkpoint's), the tokenizer, the data pipelines (positioned
 * where a resumed run stopped) and the trainer state ({@link TrainingCheckpoint.State}).
 *
 * @param checkpoint the resumed checkpoint directory, null for a new run
 * @param checkpoints where the run's checkpoints go (the run directory, locked by this run, made consistent)
 */
public record TrainingSetup(TrainOptions options, Path runDir, Path checkpoint, TrainingCheckpoint.State state,
                            InfiniModel model, Tokenizer tokenizer, TrainingData data, TrainingCheckpoint checkpoints) {
    private static final Logger log = LoggerFactory.getLogger(TrainingSetup.class);

    /** Prepares the run of {@code o} (already validated), resuming the checkpoint in {@code resumeFrom} if not null. */
    public static TrainingSetup prepare(TrainOptions o, Path resumeFrom) throws IOException {
        TrainingCheckpoint.State state;
        InfiniModel model;
        Path ckpt = resumeFrom == null ? null : TrainingCheckpoint.locate(resumeFrom);
        if (ckpt != null) {
            state = TrainingCheckpoint.readState(ckpt);
            model = HfCheckpoint.load(ckpt);
            log.info("resuming {} at step {}", ckpt, state.step);
        } else {
            state = new TrainingCheckpoint.State();
            model = o.init != null ? HfCheckpoint.load(Paths.get(o.init), new HfCheckpoint.Options().gateInit(o.gateInit)
                    .segmentSize(o.segment).memoryUpdate(o.memoryUpdate)) : freshModel(o);
            if (o.init != null && o.tokenShift && !model.config().tokenShift()) {
                model = model.withTokenShift();
                log.info("{}: token shift added, its previous-token table at zero (the model's outputs are unchanged "
                        + "until it trains)", o.init);
            }
        }
        state.options = o;
        if (o.kernel != null) {
            model.kernel(o.kernel);
        }
        InfiniConfig c = model.config();
        Path tokFile = ckpt != null && ownsTokenizer(ckpt) ? ownTokenizerFile(ckpt) : CheckpointFiles.tokenizerFile(o);
        Tokenizer tok = ckpt != null && ownsTokenizer(ckpt) ? Tokenizers.require(ckpt, c, "resuming " + ckpt)
                : tokenizer(o, c);
        if (tok.vocabSize() > c.vocabSize()) {
            throw new IllegalArgumentException("tokenizer " + tok + " has " + tok.vocabSize()
                    + " ids but the model's vocabulary has " + c.vocabSize());
        }
        log.info("model {} with {} parameters; memory gradient {}, segment kernel {}, {} x {} tokens per step in segments of {}",
                c, String.format("%,d", c.parameterCount()), o.memoryGradient.key(), model.kernel().key(), o.batch * o.accumulation,
                o.corpus.equals(TrainingData.RECALL) ? "(gap + 2) x " + o.segment + " (gaps " + o.gaps + ")" : o.seqLen, o.segment);
        TrainingData data = TrainingData.of(o, tok);
        if (state.dataState != null) {
            data.restore().accept(state.dataState);
        }
        Path runDir = Paths.get(o.out);
        TrainingCheckpoint checkpoints = new TrainingCheckpoint(runDir, o, CheckpointFiles.of(o, tok, tokFile), state, ckpt);
        return new TrainingSetup(o, runDir, ckpt, state, model, tok, data, checkpoints);
    }

    /** Whether a checkpoint carries its tokenizer (checkpoints of older versions do not). */
    private static boolean ownsTokenizer(Path ckpt) {
        return Files.isRegularFile(ckpt.resolve(Tokenizers.TOKENIZER_JSON))
                || Files.isRegularFile(ckpt.resolve(Tokenizers.TOKENIZER_CONFIG));
    }

    private static Path ownTokenizerFile(Path ckpt) {
        Path f = ckpt.resolve(Tokenizers.TOKENIZER_JSON);
        return Files.isRegularFile(f) ? f : null;
    }

    /** A model of {@code --preset} with the shape overrides, random weights of {@code --seed}. */
    static InfiniModel freshModel(TrainOptions o) {
        InfiniConfig.Builder b = Presets.get(o.preset).toBuilder().segmentSize(o.segment);
        if (o.hidden != null) b.hiddenSize(o.hidden);
        if (o.layers != null) b.numLayers(o.layers);
        if (o.heads != null) b.numHeads(o.heads);
        if (o.kvHeads != null) b.numKvHeads(o.kvHeads);
        if (o.headDim != null) b.headDim(o.headDim);
        if (o.intermediate != null) b.intermediateSize(o.intermediate);
        if (o.memoryUpdate != null) b.memoryUpdate(o.memoryUpdate);
        if (o.tokenShift) b.tokenShift(true);
        return InfiniModel.random(b.build(), o.seed, 0.02, o.gateInit, DataType.FLOAT);
    }

    /** The tokenizer: --tokenizer, else tokenizer.json next to --init, else byte-level. */
    static Tokenizer tokenizer(TrainOptions o, InfiniConfig c) throws IOException {
        String t = o.tokenizer;
        if (t == null && o.init != null && Files.isRegularFile(Paths.get(o.init, "tokenizer.json"))) {
            t = Paths.get(o.init, "tokenizer.json").toString();
        }
        if (t == null || t.equals("byte")) {
            if (c.vocabSize() < ByteTokenizer.VOCAB_SIZE) {
                throw new IllegalArgumentException("the byte tokenizer needs a vocabulary of " + ByteTokenizer.VOCAB_SIZE
                        + " but the model has " + c.vocabSize() + "; pass --tokenizer tokenizer.json");
            }
            return new ByteTokenizer();
        }
        return HfTokenizer.load(Paths.get(t));
    }
}
