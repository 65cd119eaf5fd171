package dev.infini.cli;

import dev.infini.cli.train.OutputPaths;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.io.Npy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code infini logits}: token ids in, float32 logits {@code [T, vocab]} out, run segment by segment. */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "Run token ids through a model segment by segment (memory passed on) and write the logits.")
final class LogitsCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(LogitsCommand.class);

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Hugging Face checkpoint directory (config.json + model.safetensors or shards).")
    Path model;

    @Option(names = "--tokens", required = true, paramLabel = "IDS.npy", description = "1-D integer token ids (.npy).")
    Path tokens;

    @Option(names = "--out", required = true, paramLabel = "LOGITS.npy", description = "Where to write float32 logits [T, vocab].")
    Path out;

    @Option(names = "--segment", paramLabel = "N", description = "Segment length (default: segment_size of config.json).")
    Integer segment;

    @Option(names = "--memory-update", paramLabel = "linear|delta",
            description = "Memory update rule (default: memory_update of config.json).")
    String memoryUpdate;

    @Option(names = "--gate-init", paramLabel = "G", defaultValue = "0.0",
            description = "Gate value for checkpoints without self_attn.gate (default: ${DEFAULT-VALUE}).")
    double gateInit;

    @Mixin
    NonFiniteOption nonFinite;

    @Override
    public Integer call() throws Exception {
        if (segment != null && segment <= 0) {
            throw new IllegalArgumentException("--segment must be a positive integer, got " + segment);
        }
        OutputPaths.file("--out", out);
        long t0 = System.nanoTime();
        int[] ids = Npy.readTokenIds(tokens);
        if (ids.length == 0) {
            throw new IllegalArgumentException(tokens + ": holds no token ids");
        }
        HfCheckpoint.Options opt = nonFinite.apply(new HfCheckpoint.Options()).segmentSize(segment).gateInit(gateInit)
                .memoryUpdate(memoryUpdate == null ? null : MemoryUpdate.parse(memoryUpdate));
        InfiniModel m = HfCheckpoint.load(model, opt);
        int vocab = m.config().vocabSize();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException(tokens + ": token id " + ids[i] + " at index " + i
                        + " is outside the model's vocabulary [0, " + vocab + ")");
            }
        }
        int s = m.config().segmentSize();
        int segments = (ids.length + s - 1) / s;
        log.info("{}: {} tokens in {} segment(s) of {} ({} memory), model {}", tokens, ids.length, segments, s,
                m.config().memoryUpdate().key(), m.config());
        Progress progress = new Progress("logits", segments);
        SegmentRunner.Result r = new SegmentRunner(m).run(Nd4j.createFromArray(ids).reshape(1, ids.length), null, null,
                (k, n, done) -> progress.update(k, done));
        progress.finish();
        INDArray logits = r.logits().reshape(ids.length, vocab);
        checkFinite(logits, vocab);
        Npy.writeFloat32(out, logits);
        log.info("wrote logits [{}, {}] to {} in {} s", ids.length, vocab, out,
                String.format("%.2f", (System.nanoTime() - t0) / 1e9));
        return 0;
    }

    /** NaN/Inf logits are an error naming the first position, not a file of NaNs. */
    private void checkFinite(INDArray logits, int vocab) {
        if (logits.isNaN().any() || logits.isInfinite().any()) {
            float[] v = logits.castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).dup().data().asFloat();
            for (int i = 0; i < v.length; i++) {
                if (!Float.isFinite(v[i])) {
                    throw new IllegalStateException(model + ": the logits are not finite (" + v[i] + " at token " + i / vocab
                            + ", id " + i % vocab + "): the weights hold NaN/Inf or the activations overflowed; nothing written to "
                            + out);
                }
            }
        }
    }
}
