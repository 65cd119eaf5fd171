package dev.infini.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.train.AdamW;
import dev.infini.samediff.train.MemoryGradient;
import dev.infini.samediff.train.OptimizerStep;
import dev.infini.samediff.train.TrainBatch;
import dev.infini.samediff.Presets;
import dev.infini.cli.bench.OpProfile;
import dev.infini.cli.bench.Rss;
import org.nd4j.linalg.api.buffer.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;

/** {@code infini bench}: speed and memory figures (not tests). One configuration per process, so peak RSS is its own. */
@Command(name = "bench", mixinStandardHelpOptions = true, subcommands = {BenchCommand.Train.class, BenchCommand.Profile.class,
        BenchCommand.Decode.class},
        description = {"Benchmarks: 'bench train' measures training tokens/s and peak resident memory;",
                "'bench profile' shows where a training step's time goes, per SameDiff op kind;",
                "'bench decode' measures greedy decoding tokens/s after a context."})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Training steps on random byte tokens; prints a JSON line with tokens/s and peak RSS.")
    static final class Train implements Callable<Integer> {
        private static final Logger log = LoggerFactory.getLogger(Train.class);

        @Option(names = "--preset", defaultValue = "tiny") String preset;
        @Option(names = "--seq-len", defaultValue = "4096") int seqLen;
        @Option(names = "--segment", defaultValue = "256") int segment;
        @Option(names = "--batch", defaultValue = "1") int batch;
        @Option(names = "--steps", defaultValue = "3", description = "Measured steps (after one warm-up step).") int steps;
        @Option(names = "--memory-gradient", defaultValue = "full") String mode;
        @Option(names = "--kernel", description = "fast or samediff (default: the fastest that runs here; profile: samediff).")
        String kernel;
        @Option(names = "--hidden", description = "Override the preset's hidden size.") Integer hidden;
        @Option(names = "--layers", description = "Override the preset's layer count.") Integer layers;
        @Option(names = "--heads", description = "Override the preset's query heads.") Integer heads;
        @Option(names = "--kv-heads", description = "Override the preset's key/value heads.") Integer kvHeads;
        @Option(names = "--head-dim", description = "Override the preset's head dimension.") Integer headDim;
        @Option(names = "--intermediate", description = "Override the preset's MLP size.") Integer intermediate;

        /** {@code batch} rows of {@code seqLen + 1} random byte tokens (seed 7). */
        TrainBatch randomBatch() {
            Random rnd = new Random(7);
            int[][] rows = new int[batch][seqLen + 1];
            for (int[] r : rows) {
                for (int i = 0; i < r.length; i++) {
                    r[i] = rnd.nextInt(256);
                }
            }
            return TrainBatch.fromTokens(rows);
        }

        /** The preset with the shape overrides given. */
        InfiniConfig shape() {
            InfiniConfig.Builder b = Presets.get(preset).toBuilder().segmentSize(segment);
            if (hidden != null) b.hiddenSize(hidden);
            if (layers != null) b.numLayers(layers);
            if (heads != null) b.numHeads(heads);
            if (kvHeads != null) b.numKvHeads(kvHeads);
            if (headDim != null) b.headDim(headDim);
            if (intermediate != null) b.intermediateSize(intermediate);
            return b.build();
        }

        @Override
        public Integer call() {
            InfiniConfig c = shape();
            InfiniModel model = InfiniModel.random(c, 1, 0.02, 0.0, DataType.FLOAT);
            if (kernel != null) {
                model.kernel(SegmentKernel.parse(kernel));
            }
            MemoryGradient mg = MemoryGradient.parse(mode);
            OptimizerStep step = new OptimizerStep(model, segment, mg, new AdamW(model, AdamW.Settings.defaults()), 1.0);
            TrainBatch b = randomBatch();
            double rssBefore = Rss.currentMiB();
            step.step(List.of(b), 1e-4); // warm-up: graph building, first allocations
            long t0 = System.nanoTime();
            double cpu0 = Rss.cpuSeconds();
            for (int i = 0; i < steps; i++) {
                OptimizerStep.Stats st = step.step(List.of(b), 1e-4);
                log.info("step {}: loss {}", i + 1, String.format("%.4f", st.loss()));
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            double cpu = Rss.cpuSeconds() - cpu0;
            ObjectNode n = new ObjectMapper().createObjectNode();
            n.put("bench", "train").put("preset", preset).put("hidden", c.hiddenSize()).put("layers", c.numLayers())
                    .put("heads", c.numHeads()).put("kv_heads", c.numKvHeads()).put("head_dim", c.headDim())
                    .put("intermediate", c.intermediateSize()).put("kernel", model.kernel().key())
                    .put("memory_gradient", mg.key()).put("seq_len", seqLen)
                    .put("segment", segment).put("batch", batch).put("steps", steps)
                    .put("tokens_per_s", Math.round((double) batch * seqLen * steps / secs))
                    .put("seconds_per_step", Math.round(secs / steps * 1000) / 1000.0)
                    .put("cpu_seconds_per_step", Math.round(cpu / steps * 1000) / 1000.0)
                    .put("tokens_per_cpu_s", Math.round((double) batch * seqLen * steps / cpu))
                    .put("peak_rss_mib", Math.round(Rss.peakMiB())).put("rss_before_mib", Math.round(rssBefore))
                    .put("heap_max_mib", Runtime.getRuntime().maxMemory() >> 20);
            System.out.println(n);
            return 0;
        }
    }

    /** {@code bench profile}: the same steps as {@code bench train}, timed per SameDiff op kind. */
    @Command(name = "profile", mixinStandardHelpOptions = true,
            description = "Training steps on random byte tokens with every SameDiff op timed; prints a Markdown table of "
                    + "the time per op kind (the share of the step's wall clock) and a JSON line.")
    static final class Profile implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Train shape = new Train();
        @Option(names = "--top", defaultValue = "15", description = "Op kinds listed (default: ${DEFAULT-VALUE}).")
        int top;

        @Override
        public Integer call() {
            InfiniConfig c = shape.shape();
            InfiniModel model = InfiniModel.random(c, 1, 0.02, 0.0, DataType.FLOAT).kernel(SegmentKernel.SAMEDIFF);
            MemoryGradient mg = MemoryGradient.parse(shape.mode);
            OptimizerStep step = new OptimizerStep(model, shape.segment, mg, new AdamW(model, AdamW.Settings.defaults()), 1.0);
            TrainBatch b = shape.randomBatch();
            step.step(List.of(b), 1e-4); // warm-up: builds the graphs and their gradient functions
            OpProfile profile = new OpProfile();
            for (int len : segmentLengths(shape.seqLen, shape.segment)) {
                org.nd4j.autodiff.samediff.SameDiff sd = model.graph(shape.batch, len, true).sameDiff();
                sd.addListeners(profile);
                if (sd.getFunction("grad") != null) {
                    sd.getFunction("grad").addListeners(profile);
                }
            }
            profile.recording(true);
            long t0 = System.nanoTime();
            for (int i = 0; i < shape.steps; i++) {
                step.step(List.of(b), 1e-4);
            }
            long wall = System.nanoTime() - t0;
            System.out.print(profile.markdown(wall, shape.steps, top));
            ObjectNode n = new ObjectMapper().createObjectNode();
            n.put("bench", "profile").put("memory_gradient", mg.key()).put("seq_len", shape.seqLen)
                    .put("segment", shape.segment).put("batch", shape.batch).put("steps", shape.steps)
                    .put("hidden", c.hiddenSize()).put("layers", c.numLayers())
                    .put("ms_per_step", Math.round(wall / 1e6 / shape.steps))
                    .put("in_ops_share", Math.round(1000.0 * profile.totalNanos() / wall) / 1000.0);
            ObjectNode ops = n.putObject("ms_per_step_by_op");
            profile.sorted().forEach(e -> ops.put(e.getKey(), Math.round(e.getValue().nanos() / 1e5 / shape.steps) / 10.0));
            System.out.println(n);
            return 0;
        }

        private static java.util.Set<Integer> segmentLengths(int seqLen, int segment) {
            java.util.Set<Integer> out = new java.util.TreeSet<>();
            for (int s0 = 0; s0 < seqLen; s0 += segment) {
                out.add(Math.min(segment, seqLen - s0));
            }
            return out;
        }
    }

    /**
     * {@code bench decode}: greedy token-by-token decoding with {@link dev.infini.samediff.decode.StreamingDecoder}
     * after a context of random byte tokens, the same loop as bench/pytorch_decode.py: feed the context, decode
     * {@code --warmup} tokens (the JIT compiles the step's loops: the first 256 run ~3x slower), then {@code --tokens}
     * timed steps (memory written whenever a segment fills).
     */
    @Command(name = "decode", mixinStandardHelpOptions = true,
            description = "Greedy decoding after a context of random byte tokens; prints a JSON line with tokens/s.")
    static final class Decode implements Callable<Integer> {
        @Option(names = "--preset", defaultValue = "tiny") String preset;
        @Option(names = "--context", defaultValue = "1024", description = "Tokens fed before decoding.") int context;
        @Option(names = "--tokens", defaultValue = "512", description = "Tokens decoded and timed.") int tokens;
        @Option(names = "--warmup", defaultValue = "256", description = "Tokens decoded before timing.") int warmup;
        @Option(names = "--kernel", description = "fast or samediff (default: the fastest that runs here).")
        String kernel;

        @Override
        public Integer call() {
            InfiniConfig c = Presets.get(preset);
            InfiniModel model = InfiniModel.random(c, 1);
            if (kernel != null) {
                model.kernel(SegmentKernel.parse(kernel));
            }
            Random rnd = new Random(2);
            int[] ctx = new int[context];
            for (int i = 0; i < ctx.length; i++) {
                ctx[i] = rnd.nextInt(256);
            }
            var dec = new dev.infini.samediff.decode.StreamingDecoder(model);
            long t0 = System.nanoTime();
            org.nd4j.linalg.api.ndarray.INDArray logits = dec.feed(ctx);
            double prefill = context / ((System.nanoTime() - t0) / 1e9);
            for (int i = 0; i < warmup; i++) {                   // warm-up (JIT; the step graph with samediff)
                logits = dec.step(dev.infini.samediff.decode.Sampler.argmax(logits.toDoubleVector()));
            }
            t0 = System.nanoTime();
            for (int i = 0; i < tokens; i++) {
                logits = dec.step(dev.infini.samediff.decode.Sampler.argmax(logits.toDoubleVector()));
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            ObjectNode n = new ObjectMapper().createObjectNode();
            n.put("bench", "decode").put("kernel", model.kernel().key()).put("preset", preset)
                    .put("context", context).put("warmup", warmup).put("tokens", tokens).put("segment", c.segmentSize())
                    .put("tokens_per_s", Math.round(10 * tokens / secs) / 10.0)
                    .put("prefill_tokens_per_s", Math.round(prefill)).put("state_bytes", dec.stateBytes());
            System.out.println(n);
            return 0;
        }
    }
}
