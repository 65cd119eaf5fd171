package dev.infini.cli.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.pipeline.BlockMode;
import dev.infini.datasets.pipeline.IteratorState;
import dev.infini.datasets.pipeline.TokenBlockIterator;
import dev.infini.datasets.pipeline.TokenCache;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.datasets.tokenize.HfTokenizer;
import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.train.AdamW;
import dev.infini.samediff.train.LrSchedule;
import dev.infini.samediff.train.OptimizerStep;
import dev.infini.samediff.train.SegmentGradients;
import dev.infini.samediff.train.TrainBatch;
import dev.infini.samediff.Presets;
import dev.infini.samediff.hf.HfCheckpoint;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The training loop: batches of {@code seq_len} tokens from a DataVec pipeline, each run segment by
 * segment with the memory passed on ({@link SegmentGradients}), AdamW steps on a warmup+cosine schedule,
 * validation, metrics as JSONL, atomic checkpoints every N steps and at the end, resume, a loss-curve
 * PNG and a generated sample.
 */
public final class Trainer {
    private static final Logger log = LoggerFactory.getLogger(Trainer.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final TrainOptions o;
    private final Path runDir;
    private final Path resumeFrom;
    private Consumer<String> progress = s -> { };

    /** The run's outcome; {@link #toJson()} is the one-line summary the command prints last. */
    public record Summary(long steps, double tokensPerSecond, double trainLoss, double valLoss, double valPpl,
                          double unigramPpl, double seconds, long parameters, String memoryGradient, String sample,
                          Path runDir, List<double[]> losses) {
        public String toJson() {
            ObjectNode n = JSON.createObjectNode();
            n.put("steps", steps);
            n.put("tokens_per_s", Math.round(tokensPerSecond * 10) / 10.0);
            n.put("train_loss", round(trainLoss));
            n.put("val_loss", round(valLoss));
            n.put("val_ppl", round(valPpl));
            n.put("unigram_ppl", round(unigramPpl));
            n.put("seconds", Math.round(seconds * 10) / 10.0);
            n.put("parameters", parameters);
            n.put("memory_gradient", memoryGradient);
            n.put("out", runDir.toString());
            return n.toString();
        }

        private static double round(double v) {
            return Double.isFinite(v) ? Math.round(v * 10000) / 10000.0 : v;
        }
    }

    /** A fresh run with these options, or (with {@code resumeFrom}) the continuation of a checkpointed one. */
    public Trainer(TrainOptions options, Path resumeFrom) {
        this.o = options;
        this.runDir = Paths.get(options.out);
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

    public Summary run() throws IOException {
        validate();
        Files.createDirectories(runDir);
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
                    .segmentSize(o.segment).memoryUpdate(o.memoryUpdate)) : freshModel();
        }
        state.options = o;
        InfiniConfig c = model.config();
        Tokenizer tok = tokenizer(c);
        if (tok.vocabSize() > c.vocabSize()) {
            throw new IllegalArgumentException("tokenizer " + tok + " has " + tok.vocabSize() + " ids but the model's vocabulary has "
                    + c.vocabSize());
        }
        log.info("model {} with {} parameters; memory gradient {}, {} x {} tokens per step in segments of {}", c,
                String.format("%,d", c.parameterCount()), o.memoryGradient.key(), o.batch * o.accumulation, o.seqLen, o.segment);

        Data data = o.corpus.equals("passkey") ? passkeyData(tok) : corpusData(tok);
        if (state.dataState != null) {
            data.restore().accept(state.dataState);
        }
        DataSetIterator train = data.train();
        List<TrainBatch> valSet = data.validation();

        if (o.engine.equals("graph")) {
            if (ckpt != null) {
                throw new IllegalArgumentException("--resume is supported by --engine samediff only");
            }
            return runGraph(model, tok, data, state);
        }
        AdamW adam = new AdamW(model, new AdamW.Settings(0.9, 0.95, 1e-8, o.weightDecay, o.gateLrMultiplier));
        if (ckpt != null) {
            TrainingCheckpoint.restoreOptimizer(ckpt, adam, state.optimizerStep);
        }
        OptimizerStep stepper = new OptimizerStep(model, o.segment, o.memoryGradient, adam, o.clip);
        SegmentGradients evaluator = new SegmentGradients(model, o.segment);
        LrSchedule schedule = new LrSchedule(o.lr, o.warmup, o.steps, o.minLrRatio);
        Path metrics = runDir.resolve("metrics.jsonl");
        rewriteMetrics(metrics, state);

        long startStep = state.step;
        double trainSeconds = state.seconds, tokens = state.tokensSeen;
        try (BufferedWriter mw = Files.newBufferedWriter(metrics, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            while (state.step < o.steps) {
                List<TrainBatch> micro = new ArrayList<>();
                for (int a = 0; a < o.accumulation; a++) {
                    if (!train.hasNext()) {
                        train.reset();
                    }
                    micro.add(toBatch(train.next()));
                }
                double lr = schedule.at(state.optimizerStep + 1);
                long t0 = System.nanoTime();
                OptimizerStep.Stats st = stepper.step(micro, lr);
                double dt = (System.nanoTime() - t0) / 1e9;
                double stepTokens = micro.stream().mapToDouble(TrainBatch::inputTokens).sum();
                state.step++;
                trainSeconds += dt;
                tokens += stepTokens;
                if (st.skipped()) {
                    state.badStepsInARow++;
                    log.warn("step {}: non-finite loss/gradient ({} in a row), skipped", state.step, state.badStepsInARow);
                    if (state.badStepsInARow >= o.maxBadSteps) {
                        throw new IllegalStateException("stopping: " + state.badStepsInARow + " non-finite steps in a row "
                                + "(lower --lr or check the data); the last good checkpoint is in " + runDir);
                    }
                } else {
                    state.badStepsInARow = 0;
                    state.optimizerStep = adam.step();
                    state.trainLoss.add(new double[] {state.step, st.loss()});
                }
                ObjectNode line = JSON.createObjectNode().put("step", state.step).put("loss", st.loss())
                        .put("grad_norm", st.gradNorm()).put("lr", lr).put("tokens", stepTokens)
                        .put("tokens_per_s", stepTokens / dt).put("seconds", dt).put("skipped", st.skipped());
                if (o.evalEvery > 0 && state.step % o.evalEvery == 0 && state.step < o.steps) {
                    double vl = validationLoss(evaluator, valSet);
                    state.valLoss.add(new double[] {state.step, vl});
                    line.put("val_loss", vl);
                }
                mw.write(line.toString());
                mw.newLine();
                mw.flush();
                state.dataState = data.position().get();
                state.seconds = trainSeconds;
                state.tokensSeen = tokens;
                // Never checkpoint right after a skipped step: the last good checkpoint stays as it is.
                if (o.checkpointEvery > 0 && state.step % o.checkpointEvery == 0 && state.step < o.steps
                        && state.badStepsInARow == 0) {
                    TrainingCheckpoint.save(runDir, model, adam, state);
                }
                progress.accept(String.format("step %d/%d loss %.4f | %,.0f tok/s | lr %.2e | ETA %s", state.step, o.steps,
                        st.loss(), tokens / trainSeconds, lr, eta(trainSeconds / (state.step - startStep) * (o.steps - state.step))));
            }
            // Final evaluation, checkpoint, plot and sample.
            double vl = validationLoss(evaluator, valSet);
            state.valLoss.add(new double[] {state.step, vl});
            mw.write(JSON.createObjectNode().put("step", state.step).put("val_loss", vl).toString());
            mw.newLine();
            TrainingCheckpoint.save(runDir, model, adam, state);
            double unigram = unigramPerplexity(valSet, c.vocabSize());
            LossCurve.write(runDir.resolve("loss.png"), "Infini-attention " + (o.init != null ? "fine-tuning" : o.preset)
                    + ", " + o.memoryGradient.key() + " memory gradient", state.trainLoss, state.valLoss, Math.log(unigram),
                    String.format("unigram baseline (ppl %.1f)", unigram));
            String sample = sample(model, tok, data.samplePrompt());
            Files.writeString(runDir.resolve("sample.txt"), sample + "\n");
            double trainLoss = recentMean(state.trainLoss, 10);
            return new Summary(state.step, tokens / Math.max(trainSeconds, 1e-9), trainLoss, vl, Math.exp(vl), unigram,
                    trainSeconds, c.parameterCount(), o.memoryGradient.key(), sample, runDir, state.trainLoss);
        }
    }

    /**
     * Training with the DL4J ComputationGraph form ({@code --engine graph}): plain {@code fit}, DL4J's
     * ParallelWrapper ({@code --workers N}) or a Spark TrainingMaster ({@code --spark MASTER}); the weights then
     * come back to the SameDiff form by name for validation, the checkpoint and the sample.
     */
    private Summary runGraph(InfiniModel model, Tokenizer tok, Data data, TrainingCheckpoint.State state) throws IOException {
        List<TrainBatch> valSet = data.validation();
        org.deeplearning4j.nn.graph.ComputationGraph net = dev.infini.zoo.dl4j.InfiniGraph.fromModel(model,
                new dev.infini.zoo.dl4j.InfiniGraph.Options()
                        .updater(new org.nd4j.linalg.learning.config.Adam(o.lr))
                        .gateUpdater(new org.nd4j.linalg.learning.config.Adam(o.lr * o.gateLrMultiplier))
                        .weightDecay(o.weightDecay).segmentSize(o.segment).seed(o.seed));
        long t0 = System.nanoTime();
        dev.infini.zoo.dl4j.GraphTraining.Result r = dev.infini.zoo.dl4j.GraphTraining.fit(net, data.train(),
                new dev.infini.zoo.dl4j.GraphTraining.Options().workers(o.workers).sparkMaster(o.spark)
                        .sparkMode(sparkMode(o)).steps(o.steps * o.accumulation)
                        .onStep(i -> progress.accept(String.format("step %d/%d (%s)", i, o.steps * o.accumulation, o.engine))));
        double seconds = (System.nanoTime() - t0) / 1e9;
        InfiniModel trained = dev.infini.zoo.dl4j.InfiniGraph.toModel(net, DataType.FLOAT);
        Path metrics = runDir.resolve("metrics.jsonl");
        try (BufferedWriter mw = Files.newBufferedWriter(metrics)) {
            for (int i = 0; i < r.losses().size(); i++) {
                state.trainLoss.add(new double[] {i + 1, r.losses().get(i)});
                mw.write(JSON.createObjectNode().put("step", i + 1).put("loss", r.losses().get(i)).put("engine", r.engine()).toString());
                mw.newLine();
            }
        }
        double vl = validationLoss(new SegmentGradients(trained, o.segment), valSet);
        state.step = r.losses().size();
        state.valLoss.add(new double[] {state.step, vl});
        Files.createDirectories(runDir.resolve(TrainingCheckpoint.DIR));
        HfCheckpoint.save(trained, runDir.resolve(TrainingCheckpoint.DIR));
        double unigram = unigramPerplexity(valSet, trained.config().vocabSize());
        LossCurve.write(runDir.resolve("loss.png"), "Infini-attention, " + r.engine(), state.trainLoss, state.valLoss,
                Math.log(unigram), String.format("unigram baseline (ppl %.1f)", unigram));
        String sample = sample(trained, tok, data.samplePrompt());
        Files.writeString(runDir.resolve("sample.txt"), sample + "\n");
        double tokens = (double) r.minibatches() * o.batch * o.seqLen;
        return new Summary(state.step, tokens / seconds, recentMean(state.trainLoss, 10), vl, Math.exp(vl), unigram,
                seconds, trained.config().parameterCount(), r.engine(), sample, runDir, state.trainLoss);
    }

    /** The Spark TrainingMaster of {@code --spark-mode} (default: parameter averaging). */
    public static dev.infini.zoo.dl4j.GraphTraining.SparkMode sparkMode(TrainOptions o) {
        return o.sparkMode == null ? dev.infini.zoo.dl4j.GraphTraining.SparkMode.AVERAGING
                : dev.infini.zoo.dl4j.GraphTraining.SparkMode.parse(o.sparkMode);
    }

    private void validate() {
        check(o.engine.equals("samediff") || o.engine.equals("graph"), "--engine must be samediff or graph, got " + o.engine);
        check(o.workers >= 1, "--workers must be at least 1, got " + o.workers);
        check(o.engine.equals("graph") || (o.workers == 1 && o.spark == null),
                "--workers and --spark need --engine graph (the DL4J ComputationGraph form)");
        check(o.sparkMode == null || o.spark != null, "--spark-mode needs --spark MASTER");
        sparkMode(o);
        check(o.seqLen > 0, "--seq-len must be positive, got " + o.seqLen);
        check(o.segment > 0, "--segment must be positive, got " + o.segment);
        check(o.batch > 0, "--batch must be positive, got " + o.batch);
        check(o.steps > 0, "--steps must be positive, got " + o.steps);
        check(o.accumulation > 0, "--accumulation must be positive, got " + o.accumulation);
        check(o.lr > 0 && Double.isFinite(o.lr), "--lr must be a positive number, got " + o.lr);
        check(o.valFraction > 0 && o.valFraction < 1, "--val-fraction must be in (0, 1), got " + o.valFraction);
    }

    private static void check(boolean ok, String msg) {
        if (!ok) {
            throw new IllegalArgumentException(msg);
        }
    }

    private InfiniModel freshModel() {
        InfiniConfig.Builder b = Presets.get(o.preset).toBuilder().segmentSize(o.segment);
        if (o.hidden != null) b.hiddenSize(o.hidden);
        if (o.layers != null) b.numLayers(o.layers);
        if (o.heads != null) b.numHeads(o.heads);
        if (o.kvHeads != null) b.numKvHeads(o.kvHeads);
        if (o.headDim != null) b.headDim(o.headDim);
        if (o.intermediate != null) b.intermediateSize(o.intermediate);
        if (o.memoryUpdate != null) b.memoryUpdate(o.memoryUpdate);
        return InfiniModel.random(b.build(), o.seed, 0.02, o.gateInit, DataType.FLOAT);
    }

    /** The tokenizer: --tokenizer, else tokenizer.json next to --init, else byte-level. */
    private Tokenizer tokenizer(InfiniConfig c) throws IOException {
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

    /** A bundled corpus by name, or a user's file, folder or JSONL. */
    public static Corpus corpus(String name) {
        return switch (name) {
            case "moby-dick" -> Corpus.mobyDickChapters();
            case "sotu", "state-of-the-union" -> Corpus.stateOfTheUnion();
            default -> {
                Path p = Paths.get(name);
                if (!Files.exists(p)) {
                    throw new IllegalArgumentException("corpus '" + name + "' is neither a bundled corpus (moby-dick, sotu) nor an existing path");
                }
                yield Corpus.fromPath(p);
            }
        };
    }

    private List<TrainBatch> validationSet(TokenizedCorpus corpus, Tokenizer tok, int[] docs) {
        TokenBlockIterator it = TokenBlockIterator.builder(corpus).tokenizer(tok).documents(docs).seqLen(o.seqLen)
                .batchSize(o.batch).mode(BlockMode.CONCATENATED).shuffle(false).dropLast(false).build();
        List<TrainBatch> out = new ArrayList<>();
        while (it.hasNext() && (o.valBatches <= 0 || out.size() < o.valBatches)) {
            out.add(toBatch(it.next()));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("corpus " + o.corpus + ": the validation documents hold no full block of " + o.seqLen + " tokens");
        }
        return out;
    }

    /** A DataVec DataSet of the token pipeline as a training batch. */
    public static TrainBatch toBatch(DataSet ds) {
        INDArray fm = ds.getFeaturesMaskArray();
        boolean padded = fm != null && fm.minNumber().doubleValue() < 1;
        return new TrainBatch(ds.getFeatures().castTo(DataType.INT32), ds.getLabels().castTo(DataType.INT32),
                ds.getLabelsMaskArray() != null ? ds.getLabelsMaskArray() : org.nd4j.linalg.factory.Nd4j.onesLike(ds.getFeatures()).castTo(DataType.FLOAT),
                padded ? fm : null);
    }

    private static double validationLoss(SegmentGradients eval, List<TrainBatch> set) {
        double nll = 0, n = 0;
        for (TrainBatch b : set) {
            SegmentGradients.Result r = eval.evaluate(b);
            nll += r.nllSum();
            n += r.tokens();
        }
        return nll / Math.max(n, 1);
    }

    /** Perplexity of the validation labels under their own unigram distribution (the baseline to beat). */
    static double unigramPerplexity(List<TrainBatch> set, int vocab) {
        double[] counts = new double[vocab];
        double n = 0;
        for (TrainBatch b : set) {
            int[] labels = b.labels().reshape(-1).toIntVector();
            float[] mask = b.lossMask().reshape(-1).toFloatVector();
            for (int i = 0; i < labels.length; i++) {
                if (mask[i] != 0) {
                    counts[labels[i]]++;
                    n++;
                }
            }
        }
        double h = 0;
        for (double cnt : counts) {
            if (cnt > 0) {
                h -= cnt / n * Math.log(cnt / n);
            }
        }
        return Math.exp(h);
    }

    private String sample(InfiniModel model, Tokenizer tok, int[] defaultPrompt) {
        if (o.sampleTokens <= 0) {
            return "";
        }
        int[] prompt = o.samplePrompt != null ? tok.encode(o.samplePrompt) : defaultPrompt;
        int[] out = new dev.infini.samediff.decode.StreamingDecoder(model).generate(prompt, o.sampleTokens,
                new dev.infini.samediff.decode.Sampler(0.8, 40, 0.95, o.seed), tok.eosId(), t -> { });
        String text = tok.decode(prompt) + tok.decode(out);
        log.info("sample:\n{}", text.length() > 600 ? "..." + text.substring(text.length() - 600) : text);
        return text;
    }

    /** Where batches come from: a DataVec iterator, its position as text (for checkpoints), validation, a prompt. */
    private record Data(DataSetIterator train, java.util.function.Supplier<String> position,
                        java.util.function.Consumer<String> restore, List<TrainBatch> validation, int[] samplePrompt) {
    }

    /** A corpus split into train and validation by document, in blocks of seq_len tokens. */
    private Data corpusData(Tokenizer tok) throws IOException {
        TokenizedCorpus corpus = TokenCache.defaultCache().load(corpus(o.corpus), tok);
        TokenizedCorpus.DocumentSplit split = corpus.split(o.valFraction, o.seed);
        TokenBlockIterator train = TokenBlockIterator.builder(corpus).tokenizer(tok).documents(split.train())
                .seqLen(o.seqLen).batchSize(o.batch).mode(BlockMode.CONCATENATED).shuffle(true).seed(o.seed)
                .dropLast(true).build();
        if (train.numBatches() == 0) {
            throw new IllegalArgumentException("corpus " + o.corpus + " has too few training tokens (" + corpus.numTokens()
                    + ") for one batch of " + o.batch + " x " + o.seqLen);
        }
        int[] doc = corpus.document(split.validation()[0]);
        return new Data(train, () -> train.state().encode(), st -> train.restore(IteratorState.decode(st)),
                validationSet(corpus, tok, split.validation()), java.util.Arrays.copyOf(doc, Math.min(doc.length, 48)));
    }

    /**
     * The passkey task ({@code --corpus passkey}): prompts of seq_len tokens (filler, a 5-digit key at a random
     * depth, the question) followed by the answer; in training, prompt tokens count with weight
     * {@code --prompt-weight} and answer tokens with 1; in validation only the answer counts (so the validation
     * loss is the retrieval loss).
     */
    private Data passkeyData(Tokenizer tok) {
        dev.infini.datasets.passkey.PasskeyTask task = new dev.infini.datasets.passkey.PasskeyTask(tok);
        int prompt = o.seqLen - task.maxAnswerLength();
        dev.infini.datasets.passkey.PasskeyIterator train = new dev.infini.datasets.passkey.PasskeyIterator(task, prompt,
                o.steps * o.batch * o.accumulation, o.batch, 0.0, 1.0, o.seed, o.promptWeight);
        dev.infini.datasets.passkey.PasskeyIterator val = new dev.infini.datasets.passkey.PasskeyIterator(task, prompt,
                o.batch * Math.max(1, o.valBatches), o.batch, 0.0, 1.0, o.seed + 1_000_003L, true);
        List<TrainBatch> valSet = new ArrayList<>();
        while (val.hasNext()) {
            valSet.add(toBatch(val.next()));
        }
        return new Data(train, () -> Integer.toString(train.cursor()), st -> train.setCursor(Integer.parseInt(st)), valSet,
                val.sample(0).promptIds());
    }

    private static double recentMean(List<double[]> pts, int n) {
        double s = 0;
        int k = 0;
        for (int i = Math.max(0, pts.size() - n); i < pts.size(); i++) {
            s += pts.get(i)[1];
            k++;
        }
        return k == 0 ? Double.NaN : s / k;
    }

    private static void rewriteMetrics(Path metrics, TrainingCheckpoint.State state) throws IOException {
        if (state.step == 0) {
            Files.deleteIfExists(metrics);
            return;
        }
        if (Files.exists(metrics)) {
            // Drop lines of steps after the checkpoint (written by a run that was stopped before its next checkpoint).
            List<String> keep = new ArrayList<>();
            for (String l : Files.readAllLines(metrics)) {
                if (JSON.readTree(l).path("step").asLong() <= state.step) {
                    keep.add(l);
                }
            }
            Files.write(metrics, keep);
        }
    }

    static String eta(double seconds) {
        if (!Double.isFinite(seconds)) {
            return "?";
        }
        long s = Math.round(seconds);
        return s >= 60 ? (s / 60) + "m" + String.format("%02d", s % 60) + "s" : s + "s";
    }
}
