package dev.infini.samediff.fast;

import dev.infini.samediff.DecoderGraph;
import dev.infini.samediff.GraphNames;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.Presets;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Times forward+backward of one training segment (a middle segment: non-zero memory in, non-zero upstream
 * memory gradients) for the SameDiff graph, called as {@code SegmentGradients} calls it, and for
 * {@link FastSegment}, alternating the two, and prints median tokens/s and GFLOP/s per shape.
 *
 * <p>Usage: {@code java -cp ... dev.infini.samediff.fast.SegmentBench [rounds] [shapes]} with shapes a comma list
 * of {@code A} (hidden 256, 4 layers, 4 heads, 1 KV head, MLP 1024, segment 256, batch 4), {@code B} (hidden 512,
 * 8 heads, MLP 2048), {@code C} (hidden 128, 2 layers, 2 heads, MLP 512, segment 32, batch 16); default 5 rounds,
 * {@code A,B,C}; a third argument {@code fast-only} times the engine alone (for profiling; with
 * {@code -Dinfini.fast.profile=true} it also prints the BLAS time by product shape). Set
 * {@code OMP_WAIT_POLICY=PASSIVE} and {@code OPENBLAS_THREAD_TIMEOUT=4} as {@code ./infini} does, e.g.
 * {@code java -XX:+UseSerialGC -cp infini-samediff/target/classes:$(cat cp.txt) dev.infini.samediff.fast.SegmentBench}
 * with {@code cp.txt} from {@code mvn -o -q -pl infini-samediff dependency:build-classpath -Dmdep.outputFile=cp.txt}.
 *
 * <p>FLOPs per token (the model's work; the engine skips the attention blocks above the diagonal): {@code 6 x} the weights of every matrix product (projections,
 * MLP, LM head), plus per layer and query head {@code 3 x 4 S d} for the local attention's two products over the
 * full {@code S x S} block, plus {@code 3 x 2 d^2} per query head (memory read) and per KV head (write).
 */
public final class SegmentBench {
    private SegmentBench() {
    }

    /** A benchmark shape: the model and the batch. */
    record Shape(String name, InfiniConfig config, int batch) {
    }

    static Shape shape(String name) {
        InfiniConfig.Builder b = InfiniConfig.builder(ModelFamily.GEMMA).vocabSize(Presets.BYTE_VOCAB).numKvHeads(1)
                .headDim(64).tieWordEmbeddings(true).bosTokenId(256).eosTokenId(257).padTokenId(258);
        return switch (name) {
            case "A" -> new Shape("A", b.hiddenSize(256).intermediateSize(1024).numLayers(4).numHeads(4).segmentSize(256).build(), 4);
            case "B" -> new Shape("B", b.hiddenSize(512).intermediateSize(2048).numLayers(4).numHeads(8).segmentSize(256).build(), 4);
            case "C" -> new Shape("C", b.hiddenSize(128).intermediateSize(512).numLayers(2).numHeads(2).segmentSize(32).build(), 16);
            default -> throw new IllegalArgumentException("unknown shape " + name + " (A, B or C)");
        };
    }

    /** Training FLOPs per token of one segment (see the class comment). */
    static double flopsPerToken(InfiniConfig c) {
        long dm = c.hiddenSize(), hd = c.headDim(), nh = c.numHeads(), nkv = c.numKvHeads(), im = c.intermediateSize();
        double perLayer = 6.0 * (dm * nh * hd * 2 + dm * nkv * hd * 2 + 3 * dm * im)
                + 3.0 * 4 * c.segmentSize() * hd * nh + 3.0 * 2 * hd * hd * (nh + nkv);
        return perLayer * c.numLayers() + 6.0 * c.vocabSize() * dm;
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        String[] shapes = (args.length > 1 ? args[1] : "A,B,C").split(",");
        System.out.printf(Locale.ROOT, "cores %d, element-wise threads %d, load %s%n", Runtime.getRuntime().availableProcessors(),
                Par.THREADS, loadAverage());
        boolean fastOnly = args.length > 2 && args[2].equals("fast-only");
        for (String s : shapes) {
            run(shape(s.trim()), rounds, fastOnly);
        }
    }

    private static void run(Shape shape, int rounds, boolean fastOnly) {
        InfiniConfig c = shape.config();
        int b = shape.batch(), s = c.segmentSize();
        InfiniModel model = InfiniModel.random(c, 7, 0.02, 0.0, DataType.FLOAT);
        Random rnd = new Random(3);
        INDArray ids = randomIds(b, s, c.vocabSize(), rnd), labels = randomIds(b, s, c.vocabSize(), rnd);
        INDArray mask = Nd4j.ones(DataType.FLOAT, b, s), lossMask = Nd4j.ones(DataType.FLOAT, b, s);
        FastSegment engine = FastSegment.of(model, b, s);
        MemoryState memory = engine.forward(ids, mask, model.zeroMemory(b)).memory();
        INDArray[] dm = new INDArray[c.numLayers()], dz = new INDArray[c.numLayers()];
        for (int l = 0; l < c.numLayers(); l++) {
            dm[l] = Nd4j.randn(DataType.FLOAT, b, c.numKvHeads(), c.headDim(), c.headDim()).muli(1e-3);
            dz[l] = Nd4j.randn(DataType.FLOAT, b, c.numKvHeads(), c.headDim(), 1).muli(1e-3);
        }
        DecoderGraph g = model.graph(b, s, true);
        Map<String, INDArray> ph = placeholders(model, ids, mask, labels, memory, dm, dz);
        List<String> wrt = new ArrayList<>(g.parameterNames());
        for (int l = 0; l < c.numLayers(); l++) {
            wrt.add(GraphNames.memoryM(l));
            wrt.add(GraphNames.memoryZ(l));
        }
        double[] tSd = new double[rounds], tFast = new double[rounds];
        double nllSd = 0, nllFast = 0;
        for (int w = 0; w < 6; w++) {                             // the engine's JIT needs a few calls
            engine.forwardBackward(ids, mask, labels, lossMask, memory, dm, dz);
        }
        for (int r = -2; r < rounds; r++) {                       // rounds -2 and -1 warm both up
            for (int k = 0; k < 2; k++) {
                boolean fastFirst = (r & 1) == 0;
                long t0 = System.nanoTime();
                if ((k == 0) == fastFirst) {
                    Blas.resetProfile();
                    nllFast = engine.forwardBackward(ids, mask, labels, lossMask, memory, dm, dz).nllSum();
                    record(tFast, r, t0);
                    if (Blas.PROFILE) {
                        System.out.printf(Locale.ROOT, "  engine %.1f ms, of which BLAS %.1f ms in %d calls%n",
                                (System.nanoTime() - t0) / 1e6, Blas.profileNanos / 1e6, Blas.profileCalls);
                        Blas.PROFILE_BY_SHAPE.forEach((key, e) -> System.out.printf(Locale.ROOT, "    %s: %.1f ms in %d%n", key, e[0] / 1e6, e[1]));
                    }
                } else if (!fastOnly) {
                    Map<String, INDArray> out = model.runtime().outputsAndGradients(g.sameDiff(), ph, List.of(GraphNames.NLL_SUM), wrt);
                    nllSd = out.get(GraphNames.NLL_SUM).getDouble(0);
                    record(tSd, r, t0);
                }
            }
        }
        report(shape, b * s, tSd, tFast, nllSd, nllFast);
        if (!fastOnly) {
            compare(model.runtime().outputsAndGradients(g.sameDiff(), ph, List.of(), wrt), engine.forwardBackward(ids, mask, labels, lossMask, memory, dm, dz));
        }
        model.runtime().release();
    }

    /** Worst relative error (Frobenius) of the engine's gradients against the graph's at this shape, in float. */
    private static void compare(Map<String, INDArray> ref, FastSegment.Result res) {
        double worst = 0;
        String worstName = "";
        Map<String, INDArray> mine = new java.util.HashMap<>(res.gradients());
        for (int l = 0; l < res.memoryMGrad().length; l++) {
            mine.put(GraphNames.memoryM(l), res.memoryMGrad()[l]);
            mine.put(GraphNames.memoryZ(l), res.memoryZGrad()[l].reshape(ref.get(GraphNames.memoryZ(l)).shape()));
        }
        for (Map.Entry<String, INDArray> e : mine.entrySet()) {
            INDArray r = ref.get(e.getKey()).castTo(DataType.DOUBLE).reshape(e.getValue().shape());
            double err = e.getValue().castTo(DataType.DOUBLE).sub(r).norm2Number().doubleValue()
                    / Math.max(r.norm2Number().doubleValue(), 1e-30);
            if (err > worst) {
                worst = err;
                worstName = e.getKey();
            }
        }
        System.out.printf(Locale.ROOT, "  gradients vs SameDiff: worst relative error %.2e (%s) over %d tensors%n",
                worst, worstName, mine.size());
    }

    private static void record(double[] t, int round, long t0) {
        if (round >= 0) {
            t[round] = (System.nanoTime() - t0) / 1e9;
        }
    }

    private static void report(Shape shape, int tokens, double[] tSd, double[] tFast, double nllSd, double nllFast) {
        double fpt = flopsPerToken(shape.config());
        double mSd = median(tSd), mFast = median(tFast);
        System.out.printf(Locale.ROOT, "shape %s (B=%d S=%d, %.1f MFLOP/token): SameDiff %.0f tokens/s %.1f GFLOP/s "
                        + "(%.1f ms) | FastSegment %.0f tokens/s %.1f GFLOP/s (%.1f ms) | speed-up %.2fx | NLL %.4f vs %.4f | load %s%n",
                shape.name(), shape.batch(), shape.config().segmentSize(), fpt / 1e6, tokens / mSd, tokens * fpt / mSd / 1e9,
                mSd * 1e3, tokens / mFast, tokens * fpt / mFast / 1e9, mFast * 1e3, mSd / mFast, nllSd, nllFast, loadAverage());
        System.out.printf(Locale.ROOT, "  best round: SameDiff %.0f tokens/s, FastSegment %.0f tokens/s%n",
                tokens / Arrays.stream(tSd).min().orElse(Double.NaN), tokens / Arrays.stream(tFast).min().orElse(Double.NaN));
        System.out.printf(Locale.ROOT, "  SameDiff ms %s%n  FastSegment ms %s%n", ms(tSd), ms(tFast));
    }

    private static String ms(double[] t) {
        StringBuilder sb = new StringBuilder();
        for (double v : t) {
            sb.append(String.format(Locale.ROOT, "%.1f ", v * 1e3));
        }
        return sb.toString().trim();
    }

    static double median(double[] t) {
        double[] c = t.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }

    /** The graph's placeholders as {@code SegmentGradients} builds them (one-hot labels, upstream gradients). */
    private static Map<String, INDArray> placeholders(InfiniModel model, INDArray ids, INDArray mask, INDArray labels,
                                                      MemoryState memory, INDArray[] dm, INDArray[] dz) {
        Map<String, INDArray> ph = model.placeholders(ids, mask, memory);
        int n = (int) ids.length(), v = model.config().vocabSize();
        INDArray oneHot = Nd4j.zeros(DataType.FLOAT, n, v);
        int[] y = labels.reshape(n).toIntVector();
        for (int r = 0; r < n; r++) {
            oneHot.putScalar(r, y[r], 1.0);
        }
        ph.put(GraphNames.LABELS, oneHot);
        for (int l = 0; l < dm.length; l++) {
            ph.put(GraphNames.memoryMGrad(l), dm[l]);
            ph.put(GraphNames.memoryZGrad(l), dz[l].reshape(dz[l].size(0), dz[l].size(1), dz[l].size(2)));
        }
        return ph;
    }

    private static INDArray randomIds(int b, int s, int vocab, Random rnd) {
        int[] ids = new int[b * s];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rnd.nextInt(vocab);
        }
        return Nd4j.createFromArray(ids).reshape(b, s);
    }

    private static String loadAverage() {
        try {
            return new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/loadavg"))).trim();
        } catch (java.io.IOException e) {
            return String.format(Locale.ROOT, "%.2f", java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        }
    }
}
