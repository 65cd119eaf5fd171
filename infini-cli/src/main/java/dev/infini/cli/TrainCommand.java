package dev.infini.cli;

import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.train.MemoryGradient;
import dev.infini.cli.train.TrainOptions;
import dev.infini.cli.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code infini train}: trains a model segment by segment with memory passing; see {@link Trainer}. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train an Infini-attention decoder on a corpus, segment by segment with the memory passed on.",
                "With no arguments: the tiny preset on Moby-Dick, a few minutes on 2 CPU cores."})
final class TrainCommand implements Callable<Integer> {
    private final TrainOptions d = new TrainOptions();

    @Option(names = "--preset", paramLabel = "NAME", description = "Model shape: tiny, small, tiny-llama, gemma-2b, ... (default: tiny).")
    String preset;
    @Option(names = "--init", paramLabel = "DIR", description = "Fine-tune this Hugging Face checkpoint instead of a fresh model.")
    String init;
    @Option(names = "--resume", paramLabel = "DIR", description = "Continue the run checkpointed in DIR (its options are reused).")
    Path resume;
    @Option(names = "--corpus", paramLabel = "NAME|PATH", description = "moby-dick, sotu, or a text file, folder or JSONL (default: moby-dick).")
    String corpus;
    @Option(names = "--tokenizer", paramLabel = "byte|FILE", description = "Tokenizer (default: tokenizer.json next to --init, else byte).")
    String tokenizer;
    @Option(names = "--seq-len", paramLabel = "N", description = "Tokens per sequence (default: 512).")
    Integer seqLen;
    @Option(names = "--segment", paramLabel = "N", description = "Segment length (default: 256).")
    Integer segment;
    @Option(names = "--batch", paramLabel = "N", description = "Sequences per batch (default: 4).")
    Integer batch;
    @Option(names = "--steps", paramLabel = "N", description = "Optimizer steps (default: 100).")
    Integer steps;
    @Option(names = "--accumulation", paramLabel = "N", description = "Batches per optimizer step (default: 1).")
    Integer accumulation;
    @Option(names = "--memory-gradient", paramLabel = "full|truncated", description = "full: exact back-propagation through memory (default); truncated: the reference code's way.")
    String memoryGradient;
    @Option(names = "--memory-update", paramLabel = "linear|delta", description = "Memory update rule (default: the preset's, linear).")
    String memoryUpdate;
    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: 2e-3).")
    Double lr;
    @Option(names = "--warmup", paramLabel = "N", description = "Warmup steps (default: 10).")
    Integer warmup;
    @Option(names = "--weight-decay", paramLabel = "W", description = "Decoupled weight decay, not on norms and gates (default: 0.1).")
    Double weightDecay;
    @Option(names = "--gate-lr-multiplier", paramLabel = "X", description = "Gates learn at lr times this (default: 10).")
    Double gateLrMultiplier;
    @Option(names = "--prompt-weight", paramLabel = "W", description = "With --corpus passkey: loss weight of prompt tokens, answer tokens weigh 1; 0 trains retrieval alone (default: 1).")
    Double promptWeight;
    @Option(names = "--gate-init", paramLabel = "G", description = "Initial gate of fresh models and of checkpoints without gates (default: 0).")
    Double gateInit;
    @Option(names = "--clip", paramLabel = "NORM", description = "Gradient clipping by global norm, 0 for none (default: 1).")
    Double clip;
    @Option(names = "--seed", paramLabel = "S", description = "Seed of weights and data order (default: 42).")
    Long seed;
    @Option(names = "--eval-every", paramLabel = "N", description = "Validation every N steps (default: 25).")
    Integer evalEvery;
    @Option(names = "--val-batches", paramLabel = "N", description = "Validation batches per evaluation, 0 for all (default: 4).")
    Integer valBatches;
    @Option(names = "--checkpoint-every", paramLabel = "N", description = "Checkpoint every N steps, and at the end (default: 25).")
    Integer checkpointEvery;
    @Option(names = "--sample-tokens", paramLabel = "N", description = "Tokens of the sample generated at the end (default: 200).")
    Integer sampleTokens;
    @Option(names = "--sample-prompt", paramLabel = "TEXT", description = "Prompt of the sample (default: the start of a validation document).")
    String samplePrompt;
    @Option(names = "--out", paramLabel = "DIR", description = "Run directory: checkpoint/, metrics.jsonl, loss.png, sample.txt (default: runs/latest).")
    String out;
    @Option(names = "--engine", paramLabel = "samediff|graph", description = "samediff: exact per-segment gradients (default); graph: the DL4J ComputationGraph form.")
    String engine;
    @Option(names = "--workers", paramLabel = "N", description = "Data-parallel workers with --engine graph (DL4J ParallelWrapper; with --spark: partitions).")
    Integer workers;
    @Option(names = "--spark", paramLabel = "MASTER", description = "Train the graph form with a Spark TrainingMaster (local[2], spark://host:7077, yarn).")
    String spark;
    @Option(names = "--spark-mode", paramLabel = "averaging|shared", description = "Spark TrainingMaster with --spark: averaging (ParameterAveragingTrainingMaster, default) or shared (SharedTrainingMaster: threshold-encoded gradient sharing).")
    String sparkMode;
    @Option(names = "--hidden", paramLabel = "N", description = "Override the preset's hidden size.")
    Integer hidden;
    @Option(names = "--layers", paramLabel = "N", description = "Override the preset's layer count.")
    Integer layers;
    @Option(names = "--heads", paramLabel = "N", description = "Override the preset's query heads.")
    Integer heads;
    @Option(names = "--kv-heads", paramLabel = "N", description = "Override the preset's key/value heads.")
    Integer kvHeads;
    @Option(names = "--head-dim", paramLabel = "N", description = "Override the preset's head dimension.")
    Integer headDim;
    @Option(names = "--intermediate", paramLabel = "N", description = "Override the preset's MLP size.")
    Integer intermediate;

    @Override
    public Integer call() throws Exception {
        TrainOptions o = options();
        Progress bar = new Progress("train", o.steps);
        Trainer.Summary s = new Trainer(o, resume).onProgress(bar::line).run();
        bar.finish();
        System.out.println("sample: " + s.sample().replace("\n", " "));
        System.out.println(s.toJson());
        return 0;
    }

    /** The run's options: the defaults (or, with {@code --resume}, the checkpoint's) overridden by the flags given. */
    TrainOptions options() throws java.io.IOException {
        TrainOptions o = resume != null ? Trainer.optionsOf(resume) : d;
        if (preset != null) o.preset = preset;
        if (init != null) o.init = init;
        if (corpus != null) o.corpus = corpus;
        if (tokenizer != null) o.tokenizer = tokenizer;
        if (seqLen != null) o.seqLen = seqLen;
        if (segment != null) o.segment = segment;
        if (batch != null) o.batch = batch;
        if (steps != null) o.steps = steps;
        if (accumulation != null) o.accumulation = accumulation;
        if (memoryGradient != null) o.memoryGradient = MemoryGradient.parse(memoryGradient);
        if (memoryUpdate != null) o.memoryUpdate = MemoryUpdate.parse(memoryUpdate);
        if (lr != null) o.lr = lr;
        if (warmup != null) o.warmup = warmup;
        if (weightDecay != null) o.weightDecay = weightDecay;
        if (gateLrMultiplier != null) o.gateLrMultiplier = gateLrMultiplier;
        if (gateInit != null) o.gateInit = gateInit;
        if (promptWeight != null) o.promptWeight = promptWeight;
        if (clip != null) o.clip = clip;
        if (seed != null) o.seed = seed;
        if (evalEvery != null) o.evalEvery = evalEvery;
        if (valBatches != null) o.valBatches = valBatches;
        if (checkpointEvery != null) o.checkpointEvery = checkpointEvery;
        if (sampleTokens != null) o.sampleTokens = sampleTokens;
        if (samplePrompt != null) o.samplePrompt = samplePrompt;
        if (out != null) o.out = out;
        if (engine != null) o.engine = engine;
        if (workers != null) o.workers = workers;
        if (spark != null) o.spark = spark;
        if (sparkMode != null) o.sparkMode = sparkMode;
        if (hidden != null) o.hidden = hidden;
        if (layers != null) o.layers = layers;
        if (heads != null) o.heads = heads;
        if (kvHeads != null) o.kvHeads = kvHeads;
        if (headDim != null) o.headDim = headDim;
        if (intermediate != null) o.intermediate = intermediate;
        if (resume != null && out == null) {
            o.out = resume.toString();
        }
        return o;
    }
}
