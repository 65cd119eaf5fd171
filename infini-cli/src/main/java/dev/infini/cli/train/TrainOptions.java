package dev.infini.cli.train;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.train.MemoryGradient;

/**
 * Everything a training run is configured by; written into each checkpoint so that {@code --resume}
 * continues the same run. Public fields bound by Jackson; defaults are those of {@code ./infini train}.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public final class TrainOptions {
    /** Model shape preset (see {@code Presets}); ignored with {@link #init}. */
    public String preset = "tiny";
    public Integer hidden;
    public Integer layers;
    public Integer heads;
    public Integer kvHeads;
    public Integer headDim;
    public Integer intermediate;
    /** Fine-tune this Hugging Face checkpoint directory instead of a fresh model. */
    public String init;
    /** Bundled corpus name (moby-dick, sotu) or a path (text file, folder, JSONL). */
    public String corpus = "moby-dick";
    /** Tokenizer: "byte", or a tokenizer.json path; default: the model's (tokenizer.json next to --init) or byte. */
    public String tokenizer;
    public int seqLen = 512;
    public int segment = 256;
    public int batch = 4;
    public int steps = 100;
    public int accumulation = 1;
    public double lr = 2e-3;
    public int warmup = 10;
    public double minLrRatio = 0.1;
    public double weightDecay = 0.1;
    public double gateLrMultiplier = 10.0;
    /** Gate value of fresh models (sigmoid 0.5 at 0). */
    public double gateInit = 0.0;
    public double clip = 1.0;
    public MemoryGradient memoryGradient = MemoryGradient.FULL;
    public MemoryUpdate memoryUpdate;
    public long seed = 42;
    /** Passkey corpus: loss weight of prompt tokens (answer tokens weigh 1); 0 trains on retrieval alone. */
    public double promptWeight = 1.0;
    public double valFraction = 0.1;
    /** Validation batches evaluated at each evaluation (0: all). */
    public int valBatches = 4;
    public int evalEvery = 25;
    public int checkpointEvery = 25;
    public int maxBadSteps = 10;
    public int sampleTokens = 200;
    public String samplePrompt;
    public String out = "runs/latest";
    /** "samediff" (this trainer's exact per-segment gradients) or "graph" (the DL4J ComputationGraph form). */
    public String engine = "samediff";
    /** Data-parallel workers of the graph engine (DL4J ParallelWrapper; with Spark: partitions). */
    public int workers = 1;
    /** Spark master (local[2], spark://host:7077, yarn) for the graph engine; null: no Spark. */
    public String spark;
    /** Spark TrainingMaster with {@link #spark}: "averaging" (ParameterAveragingTrainingMaster) or "shared"
     * (SharedTrainingMaster); null: averaging. */
    public String sparkMode;
}
