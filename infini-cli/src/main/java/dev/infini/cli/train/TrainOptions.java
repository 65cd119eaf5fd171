package dev.infini.cli.train;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import dev.infini.datasets.corpus.Corpora;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.train.MemoryGradient;
import dev.infini.zoo.dl4j.GraphTraining;
import picocli.CommandLine.Option;

/**
 * Everything a training run is configured by, declared once: each public field is a {@code train} option (picocli,
 * used as a mixin of the command), its initialiser is the default, and Jackson writes the object into each
 * checkpoint ({@code trainer.json}) so that {@code --resume} continues the same run. {@link #validate()} checks a
 * whole set of options, including what the chosen {@link Engine} cannot do.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public final class TrainOptions {
    @Option(names = "--preset", paramLabel = "NAME", description = "Model shape: tiny, small, tiny-llama, gemma-2b, ... (default: ${DEFAULT-VALUE}).")
    public String preset = "tiny";
    @Option(names = "--hidden", paramLabel = "N", description = "Override the preset's hidden size.")
    public Integer hidden;
    @Option(names = "--layers", paramLabel = "N", description = "Override the preset's layer count.")
    public Integer layers;
    @Option(names = "--heads", paramLabel = "N", description = "Override the preset's query heads.")
    public Integer heads;
    @Option(names = "--kv-heads", paramLabel = "N", description = "Override the preset's key/value heads.")
    public Integer kvHeads;
    @Option(names = "--head-dim", paramLabel = "N", description = "Override the preset's head dimension.")
    public Integer headDim;
    @Option(names = "--intermediate", paramLabel = "N", description = "Override the preset's MLP size.")
    public Integer intermediate;
    @Option(names = "--init", paramLabel = "DIR", description = "Fine-tune this Hugging Face checkpoint instead of a fresh model.")
    public String init;
    @Option(names = "--corpus", paramLabel = "NAME|PATH", description = "moby-dick (one document per chapter), moby-dick-book, "
            + "sotu, passkey (the passkey task), recall (associative recall across segments), or a text file, folder or JSONL (default: ${DEFAULT-VALUE}).")
    public String corpus = Corpora.DEFAULT;
    @Option(names = "--tokenizer", paramLabel = "byte|FILE", description = "Tokenizer (default: tokenizer.json next to --init, else byte).")
    public String tokenizer;
    @Option(names = "--seq-len", paramLabel = "N", description = "Tokens per sequence (default: ${DEFAULT-VALUE}).")
    public int seqLen = 512;
    @Option(names = "--segment", paramLabel = "N", description = "Segment length (default: ${DEFAULT-VALUE}).")
    public int segment = 256;
    @Option(names = "--batch", paramLabel = "N", description = "Sequences per batch (default: ${DEFAULT-VALUE}).")
    public int batch = 4;
    @Option(names = "--steps", paramLabel = "N", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    public int steps = 100;
    @Option(names = "--accumulation", paramLabel = "N", description = "Batches per optimizer step (default: ${DEFAULT-VALUE}; samediff engine only).")
    public int accumulation = 1;
    @Option(names = "--memory-gradient", paramLabel = "full|truncated", converter = OptionConverters.MemoryGradientConverter.class,
            description = "full: exact back-propagation through memory (default); truncated: the reference code's way (samediff engine only).")
    public MemoryGradient memoryGradient = MemoryGradient.FULL;
    @Option(names = "--memory-update", paramLabel = "linear|delta", converter = OptionConverters.MemoryUpdateConverter.class,
            description = "Memory update rule (default: the preset's, linear).")
    public MemoryUpdate memoryUpdate;
    @Option(names = "--token-shift", description = "Beyond the paper: each position also adds a learnt embedding of the "
            + "token before it in its segment (config key token_shift; off by default, as in every Gemma/Llama checkpoint). "
            + "With --init, a checkpoint without it gets the table at zero: unchanged outputs until it trains.")
    public boolean tokenShift;
    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    public double lr = 2e-3;
    @Option(names = "--warmup", paramLabel = "N", description = "Linear warmup steps before the cosine decay (default: ${DEFAULT-VALUE}).")
    public int warmup = 10;
    @Option(names = "--min-lr-ratio", paramLabel = "R", description = "The cosine decay ends at lr times this (default: ${DEFAULT-VALUE}).")
    public double minLrRatio = 0.1;
    @Option(names = "--weight-decay", paramLabel = "W", description = "Decoupled weight decay, not on norms and gates (default: ${DEFAULT-VALUE}).")
    public double weightDecay = 0.1;
    @Option(names = "--gate-lr-multiplier", paramLabel = "X", description = "Gates learn at lr times this (default: ${DEFAULT-VALUE}).")
    public double gateLrMultiplier = 10.0;
    @Option(names = "--gate-init", paramLabel = "G", description = "Initial gate of fresh models and of checkpoints without gates (default: ${DEFAULT-VALUE}).")
    public double gateInit = 0.0;
    @Option(names = "--clip", paramLabel = "NORM", description = "Gradient clipping by global norm, 0 for none (default: ${DEFAULT-VALUE}).")
    public double clip = 1.0;
    @Option(names = "--seed", paramLabel = "S", description = "Seed of weights and data order (default: ${DEFAULT-VALUE}).")
    public long seed = 42;
    @Option(names = "--prompt-weight", paramLabel = "W", description = "With --corpus passkey: loss weight of prompt tokens, answer tokens "
            + "weigh 1; 0 trains retrieval alone (default: ${DEFAULT-VALUE}).")
    public double promptWeight = 1.0;
    @Option(names = "--pairs", paramLabel = "N|MIN-MAX", description = "With --corpus recall: key-value pairs per sample, "
            + "or a range drawn uniformly per sample (default: ${DEFAULT-VALUE}).")
    public String pairs = "8";
    @Option(names = "--gaps", paramLabel = "G,...", description = "With --corpus recall: filler segments between the pairs "
            + "and the queries, one drawn per batch; a sample is (gap + 2) x --segment tokens and --seq-len is not used "
            + "(default: ${DEFAULT-VALUE}).")
    public String gaps = "0,1,2,4";
    @Option(names = "--recall-block", paramLabel = "N", description = "With --corpus recall: the block of the sample format "
            + "(pairs block, filler blocks, queries block), default the --segment; a --segment of 2 x N puts the pairs and "
            + "the queries of gap 0 in one segment (local attention can answer: a curriculum step before the memory).")
    public Integer recallBlock;
    @Option(names = "--val-fraction", paramLabel = "F", description = "Fraction of the corpus's documents held out for validation (default: ${DEFAULT-VALUE}).")
    public double valFraction = 0.1;
    @Option(names = "--val-batches", paramLabel = "N", description = "Validation batches per evaluation, 0 for all (default: ${DEFAULT-VALUE}).")
    public int valBatches = 4;
    /** Validation every N steps, 0: at the end only; null: {@link #evalEvery()}'s default for the engine. */
    @Option(names = "--eval-every", paramLabel = "N", description = "Validation every N steps, 0 for only at the end (default: "
            + DEFAULT_EVERY + "; --engine graph with --workers > 1 or --spark: at the end only, the one choice there).")
    public Integer evalEvery;
    /** Checkpoint every N steps, 0: at the end only; null: {@link #checkpointEvery()}'s default for the engine. */
    @Option(names = "--checkpoint-every", paramLabel = "N", description = "Checkpoint every N steps, 0 for only at the end "
            + "(default: " + DEFAULT_EVERY + "; --engine graph: weights only, and with --workers > 1 or --spark at the end "
            + "only, the one choice there).")
    public Integer checkpointEvery;
    @Option(names = "--keep-checkpoints", paramLabel = "K", description = "Keep the K newest checkpoint-N/ directories "
            + "(and best/, the one of lowest validation loss); older ones are deleted (default: ${DEFAULT-VALUE}).")
    public int keepCheckpoints = 3;
    @Option(names = "--max-bad-steps", paramLabel = "N", description = "Stop after this many non-finite steps in a row (default: ${DEFAULT-VALUE}).")
    public int maxBadSteps = 10;
    @Option(names = "--sample-tokens", paramLabel = "N", description = "Tokens of the sample generated at the end (default: ${DEFAULT-VALUE}).")
    public int sampleTokens = 200;
    @Option(names = "--sample-prompt", paramLabel = "TEXT", description = "Prompt of the sample (default: the start of a validation document).")
    public String samplePrompt;
    @Option(names = "--out", paramLabel = "DIR", description = "Run directory: checkpoint-N/ (N = step), the links checkpoint "
            + "(newest) and best, metrics.jsonl, loss.png, sample.txt (default: ${DEFAULT-VALUE}; with --resume: the "
            + "resumed run's).")
    public String out = "runs/latest";
    @Option(names = "--kernel", paramLabel = "fast|samediff", converter = OptionConverters.KernelConverter.class,
            description = "What runs each segment (samediff engine: the whole decoder; graph engine: each DL4J decoder "
                    + "layer, checkpointed form): fast (a hand-written forward and backward, held "
                    + "equal to the graph by tests; ND4J CPU backend) or samediff (the SameDiff graph, the definition; any "
                    + "backend). Default: fast where it runs, else samediff.")
    public SegmentKernel kernel;
    @Option(names = "--engine", paramLabel = "samediff|graph", converter = OptionConverters.EngineConverter.class,
            description = "samediff: exact per-segment gradients (default); graph: the DL4J ComputationGraph form.")
    public Engine engine = Engine.SAMEDIFF;
    @Option(names = "--workers", paramLabel = "N", description = "Data-parallel workers with --engine graph (DL4J ParallelWrapper; "
            + "with --spark: partitions) (default: ${DEFAULT-VALUE}).")
    public int workers = 1;
    @Option(names = "--spark", paramLabel = "MASTER", description = "Train the graph form with a Spark TrainingMaster (local[2], spark://host:7077, yarn).")
    public String spark;
    /** Spark TrainingMaster with {@link #spark}; null: {@link GraphTraining.SparkMode#DEFAULT} (see {@link #sparkModeOrDefault()}). */
    @Option(names = "--spark-mode", paramLabel = "averaging|shared", converter = OptionConverters.SparkModeConverter.class,
            description = "Spark TrainingMaster with --spark: averaging (ParameterAveragingTrainingMaster, default) or shared "
                    + "(SharedTrainingMaster: threshold-encoded gradient sharing).")
    public GraphTraining.SparkMode sparkMode;
    /** The DL4J UI's port, null for no UI; not kept in checkpoints (a resumed run starts its own only when asked). */
    @JsonIgnore
    @Option(names = "--ui", arity = "0..1", fallbackValue = "9000", paramLabel = "PORT", description = "Start the DL4J "
            + "training UI (http://localhost:PORT/train/overview, port 9000 when not given) and feed it the run: score "
            + "chart, iterations, performance. It stops when training ends unless --ui-wait.")
    public Integer ui;
    /** Where the UI's stats go (DL4J FileStatsStorage), null for none; not kept in checkpoints. */
    @JsonIgnore
    @Option(names = "--stats-file", paramLabel = "FILE", description = "Store the DL4J UI's stats in FILE (DL4J "
            + "FileStatsStorage) to view later with: infini ui --stats-file FILE.")
    public String statsFile;
    /** Keep the UI serving after training; not kept in checkpoints. */
    @JsonIgnore
    @Option(names = "--ui-wait", description = "With --ui: keep the UI serving after training until Ctrl-C.")
    public boolean uiWait;

    /**
     * The default of {@link #evalEvery} and {@link #checkpointEvery}, where the engine can validate and checkpoint
     * during training (everywhere but the graph engine on several workers or Spark, which does both at the end).
     */
    public static final int DEFAULT_EVERY = 25;

    /** Whether the graph engine trains data-parallel (ParallelWrapper or Spark). */
    boolean distributedGraph() {
        return engine == Engine.GRAPH && (workers > 1 || spark != null);
    }

    /** Steps between validations (0: at the end only): {@link #evalEvery} or the engine's default. */
    public int evalEvery() {
        return evalEvery != null ? evalEvery : distributedGraph() ? 0 : DEFAULT_EVERY;
    }

    /** Steps between checkpoints (0: at the end only): {@link #checkpointEvery} or the engine's default. */
    public int checkpointEvery() {
        return checkpointEvery != null ? checkpointEvery : distributedGraph() ? 0 : DEFAULT_EVERY;
    }

    /** {@link #sparkMode}, or the one default of the graph engine's Spark training when not given. */
    public GraphTraining.SparkMode sparkModeOrDefault() {
        return sparkMode != null ? sparkMode : GraphTraining.SparkMode.DEFAULT;
    }

    /** Checks the whole set of options; the first problem is an {@link IllegalArgumentException} naming the option. */
    public void validate() {
        check(engine != null, "--engine must be samediff or graph");
        check(workers >= 1, "--workers must be at least 1, got " + workers);
        check(engine == Engine.GRAPH || (workers == 1 && spark == null),
                "--workers and --spark need --engine graph (the DL4J ComputationGraph form)");
        check(sparkMode == null || spark != null, "--spark-mode needs --spark MASTER");
        check(spark == null || (ui == null && statsFile == null), "--ui and --stats-file are not supported with --spark "
                + "(the UI feed runs in this JVM): use --workers N for a local run with the UI");
        check(ui == null || (ui > 0 && ui < 65536), "--ui port must be in 1..65535, got " + ui);
        check(!uiWait || ui != null, "--ui-wait needs --ui");
        check(seqLen > 0, "--seq-len must be positive, got " + seqLen);
        check(segment > 0, "--segment must be positive, got " + segment);
        check(batch > 0, "--batch must be positive, got " + batch);
        check(steps > 0, "--steps must be positive, got " + steps);
        check(accumulation > 0, "--accumulation must be positive, got " + accumulation);
        check(lr > 0 && Double.isFinite(lr), "--lr must be a positive number, got " + lr);
        check(warmup >= 0, "--warmup must be >= 0, got " + warmup);
        check(clip >= 0, "--clip must be >= 0 (0: no clipping), got " + clip);
        check(valFraction > 0 && valFraction < 1, "--val-fraction must be in (0, 1), got " + valFraction);
        check(maxBadSteps >= 1, "--max-bad-steps must be at least 1, got " + maxBadSteps);
        check(keepCheckpoints >= 1, "--keep-checkpoints must be at least 1, got " + keepCheckpoints);
        if (engine == Engine.GRAPH) {
            GraphEngine.checkSupported(this);
        }
    }

    static void check(boolean ok, String msg) {
        if (!ok) {
            throw new IllegalArgumentException(msg);
        }
    }
}
