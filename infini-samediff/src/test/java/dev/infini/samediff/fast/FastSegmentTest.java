package dev.infini.samediff.fast;

import dev.infini.samediff.DecoderGraph;
import dev.infini.samediff.GraphNames;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TestModels;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The hand-written engine held to the SameDiff training graph, and its gradients to finite differences. */
class FastSegmentTest {
    private static final int B = 2;
    private static final int S = 7;

    /** One segment's inputs: padded tail positions, zero loss rows, non-zero memory and upstream gradients. */
    record Inputs(INDArray ids, INDArray mask, INDArray labels, INDArray lossMask, MemoryState memory,
                  INDArray[] dmNext, INDArray[] dzNext) {
    }

    static InfiniConfig config(ModelFamily family, int heads, int kvHeads, MemoryUpdate rule, boolean tied) {
        return config(family, heads, kvHeads, rule, tied, false);
    }

    static InfiniConfig config(ModelFamily family, int heads, int kvHeads, MemoryUpdate rule, boolean tied, boolean shift) {
        return InfiniConfig.builder(family).vocabSize(29).hiddenSize(24).intermediateSize(40).numLayers(2)
                .numHeads(heads).numKvHeads(kvHeads).headDim(6).segmentSize(S).memoryUpdate(rule)
                .tieWordEmbeddings(tied).tokenShift(shift).build();
    }

    static Inputs inputs(InfiniModel model, long seed) {
        InfiniConfig c = model.config();
        DataType dt = model.dtype();
        // Non-zero incoming memory: what two earlier segments wrote.
        MemoryState mem = new SegmentRunner(model, S).run(TestModels.randomIds(B, 2 * S, c.vocabSize(), seed)).memory();
        INDArray ids = TestModels.randomIds(B, S, c.vocabSize(), seed + 1);
        INDArray mask = Nd4j.ones(dt, B, S);
        mask.putScalar(1, S - 1, 0.0);                 // padded tail of row 1
        mask.putScalar(1, S - 2, 0.0);
        INDArray labels = TestModels.randomIds(B, S, c.vocabSize(), seed + 2);
        INDArray lossMask = mask.castTo(DataType.FLOAT).dup();
        lossMask.putScalar(0, 2, 0.0);                  // a real token whose label does not count
        INDArray[] dm = new INDArray[c.numLayers()], dz = new INDArray[c.numLayers()];
        for (int l = 0; l < c.numLayers(); l++) {
            dm[l] = Nd4j.randn(seed + 10 + l, new long[] {B, c.numKvHeads(), c.headDim(), c.headDim()}).castTo(dt).muli(0.1);
            dz[l] = Nd4j.randn(seed + 20 + l, new long[] {B, c.numKvHeads(), c.headDim(), 1}).castTo(dt).muli(0.1);
        }
        return new Inputs(ids, mask, labels, lossMask, mem, dm, dz);
    }

    /** The SameDiff training graph on the same inputs: outputs and gradients by name. */
    static Map<String, INDArray> graph(InfiniModel model, Inputs in) {
        InfiniConfig c = model.config();
        DecoderGraph g = model.graph(B, S, true);
        Map<String, INDArray> ph = model.placeholders(in.ids(), in.mask(), in.memory());
        INDArray oneHot = Nd4j.zeros(model.dtype(), (long) B * S, c.vocabSize());
        int[] y = in.labels().castTo(DataType.INT32).reshape(B * S).toIntVector();
        float[] w = in.lossMask().reshape(B * S).toFloatVector();
        for (int r = 0; r < y.length; r++) {
            if (w[r] != 0) {
                oneHot.putScalar(r, y[r], w[r]);
            }
        }
        ph.put(GraphNames.LABELS, oneHot);
        List<String> outputs = new ArrayList<>(List.of(GraphNames.NLL_SUM, GraphNames.LOGITS));
        List<String> wrt = new ArrayList<>(g.parameterNames());
        for (int l = 0; l < c.numLayers(); l++) {
            ph.put(GraphNames.memoryMGrad(l), in.dmNext()[l]);
            ph.put(GraphNames.memoryZGrad(l), in.dzNext()[l].reshape(B, c.numKvHeads(), c.headDim()));
            outputs.add(GraphNames.memoryMNext(l));
            outputs.add(GraphNames.memoryZNext(l));
            wrt.add(GraphNames.memoryM(l));
            wrt.add(GraphNames.memoryZ(l));
        }
        return model.runtime().outputsAndGradients(g.sameDiff(), ph, outputs, wrt);
    }

    @ParameterizedTest(name = "{0} H={1} Hkv={2} {3} tied={4} {5} token_shift={6}")
    @CsvSource({
        "GEMMA,4,1,LINEAR,true,FLOAT,false", "GEMMA,4,1,LINEAR,true,DOUBLE,false",
        "LLAMA,4,2,DELTA,false,FLOAT,false", "LLAMA,4,2,DELTA,false,DOUBLE,false",
        "GEMMA,4,2,DELTA,false,DOUBLE,false", "LLAMA,2,1,LINEAR,true,FLOAT,false", "LLAMA,4,1,DELTA,false,FLOAT,false",
        "GEMMA,2,2,LINEAR,false,DOUBLE,false",
        "GEMMA,2,2,DELTA,true,DOUBLE,true", "LLAMA,4,2,LINEAR,false,FLOAT,true", "LLAMA,4,2,DELTA,false,DOUBLE,true"})
    @DisplayName("logits, NLL, memory out and the gradients of every parameter and of the incoming memory equal the SameDiff graph's")
    void engineEqualsSameDiffGraph(ModelFamily family, int heads, int kvHeads, MemoryUpdate rule, boolean tied,
                                   DataType dtype, boolean shift) {
        compareWithGraph(family, heads, kvHeads, rule, tied, dtype, shift);
    }

    @ParameterizedTest(name = "{0} H={1} Hkv={2} {3} tied={4} {5}")
    @CsvSource({"GEMMA,4,1,LINEAR,true,FLOAT", "LLAMA,4,2,DELTA,false,DOUBLE", "LLAMA,4,1,DELTA,true,DOUBLE"})
    @DisplayName("with every element-wise loop split over the worker threads and the attention cut into causal chunks, the engine still equals the graph")
    void engineEqualsSameDiffGraphWithLoopsSplitAndCausalChunks(ModelFamily family, int heads, int kvHeads,
                                                                MemoryUpdate rule, boolean tied, DataType dtype) {
        long savedWork = Par.minWork;
        int savedChunk = FastAttention.chunkPositions;
        Par.minWork = 1;
        FastAttention.chunkPositions = 2;           // S = 7: chunks of positions [0,2), [2,4), [4,7)
        try {
            compareWithGraph(family, heads, kvHeads, rule, tied, dtype, false);
        } finally {
            Par.minWork = savedWork;
            FastAttention.chunkPositions = savedChunk;
        }
    }

    private static void compareWithGraph(ModelFamily family, int heads, int kvHeads, MemoryUpdate rule, boolean tied,
                                         DataType dtype, boolean shift) {
        InfiniModel model = TestModels.randomModel(config(family, heads, kvHeads, rule, tied, shift), 31, dtype);
        Inputs in = inputs(model, 5);
        Map<String, INDArray> ref = graph(model, in);
        FastSegment engine = FastSegment.of(model, B, S);
        FastSegment.Forward fwd = engine.forward(in.ids(), in.mask(), in.memory());
        FastSegment.Result res = engine.forwardBackward(in.ids(), in.mask(), in.labels(), in.lossMask(),
                in.memory(), in.dmNext(), in.dzNext());
        boolean dbl = dtype == DataType.DOUBLE;
        double valueTol = dbl ? 1e-10 : 1e-5, gradTol = dbl ? 1e-10 : 1e-4;
        double worstValue = TestModels.relError(fwd.logits(), ref.get(GraphNames.LOGITS));
        double nllRef = ref.get(GraphNames.NLL_SUM).getDouble(0);
        worstValue = Math.max(worstValue, Math.abs(res.nllSum() - nllRef) / Math.abs(nllRef));
        for (int l = 0; l < model.config().numLayers(); l++) {
            INDArray zRef = ref.get(GraphNames.memoryZNext(l));
            worstValue = Math.max(worstValue, TestModels.relError(res.memory().m(l), ref.get(GraphNames.memoryMNext(l))));
            worstValue = Math.max(worstValue, TestModels.relError(res.memory().z(l), zRef.reshape(res.memory().z(l).shape())));
        }
        assertTrue(worstValue <= valueTol, "logits/NLL/memory relative error " + worstValue);
        // The memory-only pass (exact training's first pass) leaves exactly the memory of the full forward.
        MemoryState memOnly = engine.forwardMemory(in.ids(), in.mask(), in.memory());
        for (int l = 0; l < model.config().numLayers(); l++) {
            assertEquals(0.0, TestModels.relError(memOnly.m(l), fwd.memory().m(l)), 0.0, "M of layer " + l);
            assertEquals(0.0, TestModels.relError(memOnly.z(l), fwd.memory().z(l)), 0.0, "z of layer " + l);
        }
        double worstGrad = 0;
        String worstName = "";
        for (Map.Entry<String, INDArray> e : res.gradients().entrySet()) {
            double err = TestModels.relError(e.getValue(), ref.get(e.getKey()).reshape(e.getValue().shape()));
            assertTrue(err <= gradTol, e.getKey() + ": relative error " + err);
            if (err > worstGrad) {
                worstGrad = err;
                worstName = e.getKey();
            }
        }
        for (int l = 0; l < model.config().numLayers(); l++) {
            double em = TestModels.relError(res.memoryMGrad()[l], ref.get(GraphNames.memoryM(l)));
            double ez = TestModels.relError(res.memoryZGrad()[l], ref.get(GraphNames.memoryZ(l)).reshape(res.memoryZGrad()[l].shape()));
            assertTrue(em <= gradTol && ez <= gradTol, "memory gradient of layer " + l + ": " + em + ", " + ez);
            worstGrad = Math.max(worstGrad, Math.max(em, ez));
        }
        assertEquals(model.weights().size(), res.gradients().size());
        System.out.printf("engine vs SameDiff %s H=%d Hkv=%d %s tied=%b %s shift=%b threads=%d chunks=%d: values %.2e, gradients %.2e (worst parameter %s)%n",
                family, heads, kvHeads, rule, tied, dtype, shift, Par.minWork == 1 ? Par.THREADS : 1,
                FastAttention.causalChunks(S), worstValue, worstGrad, worstName);
    }

    @ParameterizedTest(name = "{0} {1} token_shift={2}")
    @CsvSource({"GEMMA,LINEAR,false", "LLAMA,DELTA,false", "GEMMA,DELTA,true"})
    @DisplayName("the engine's gradients of parameters and incoming memory match central finite differences in double")
    void gradientsMatchFiniteDifferences(ModelFamily family, MemoryUpdate rule, boolean shift) {
        InfiniModel model = TestModels.randomModel(config(family, 4, 2, rule, family == ModelFamily.GEMMA, shift), 41,
                DataType.DOUBLE);
        Inputs in = inputs(model, 9);
        FastSegment engine = FastSegment.of(model, B, S);
        FastSegment.Result res = engine.forwardBackward(in.ids(), in.mask(), in.labels(), in.lossMask(),
                in.memory(), in.dmNext(), in.dzNext());
        Map<String, INDArray> analytic = new java.util.HashMap<>();
        res.gradients().forEach((k, v) -> analytic.put(k, v.dup()));
        List<String> names = new ArrayList<>(List.of("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                "model.layers.1.self_attn.k_proj.weight", "model.layers.0.self_attn.gate",
                "model.layers.1.input_layernorm.weight", "model.layers.0.mlp.down_proj.weight", "model.norm.weight"));
        if (shift) {
            names.add(dev.infini.samediff.TensorNames.PREV_EMBED);
        }
        Random rnd = new Random(3);
        double worst = 0;
        for (String name : names) {
            INDArray flat = model.weights().get(name).reshape(-1);
            INDArray g = analytic.get(name).reshape(-1);
            for (long i : new long[] {g.argMax().getLong(0), rnd.nextInt((int) flat.length()), rnd.nextInt((int) flat.length())}) {
                worst = Math.max(worst, check(engine, in, flat, i, g.getDouble(i), name));
            }
        }
        for (int l = 0; l < 2; l++) {
            INDArray m = in.memory().m(l).reshape(-1), z = in.memory().z(l).reshape(-1);
            INDArray gm = res.memoryMGrad()[l].reshape(-1), gz = res.memoryZGrad()[l].reshape(-1);
            for (int k = 0; k < 3; k++) {
                long im = rnd.nextInt((int) m.length()), iz = rnd.nextInt((int) z.length());
                worst = Math.max(worst, check(engine, in, m, im, gm.getDouble(im), "memory." + l + ".M"));
                worst = Math.max(worst, check(engine, in, z, iz, gz.getDouble(iz), "memory." + l + ".z"));
            }
        }
        System.out.printf("engine finite differences %s/%s: worst relative error %.2e%n", family, rule, worst);
    }

    /** Central difference of LOSS in entry {@code i} of {@code flat} (a live view), against {@code analytic}. */
    private static double check(FastSegment engine, Inputs in, INDArray flat, long i, double analytic, String name) {
        double eps = 1e-6, orig = flat.getDouble(i);
        flat.putScalar(i, orig + eps);
        double plus = loss(engine, in);
        flat.putScalar(i, orig - eps);
        double minus = loss(engine, in);
        flat.putScalar(i, orig);
        double numeric = (plus - minus) / (2 * eps);
        double err = Math.abs(numeric - analytic) / Math.max(1e-3, Math.abs(numeric) + Math.abs(analytic));
        assertTrue(err < 1e-5, name + "[" + i + "]: analytic " + analytic + " vs numeric " + numeric);
        return err;
    }

    /** {@code LOSS = NLL_SUM + sum_i <M'_i, dM'_i> + <z'_i, dz'_i>} from the engine's forward pass. */
    private static double loss(FastSegment engine, Inputs in) {
        FastSegment.Result r = engine.forwardLoss(in.ids(), in.mask(), in.labels(), in.lossMask(), in.memory());
        double loss = r.nllSum();
        for (int l = 0; l < r.memory().numLayers(); l++) {
            loss += r.memory().m(l).mul(in.dmNext()[l]).sumNumber().doubleValue();
            loss += r.memory().z(l).reshape(in.dzNext()[l].shape()).mul(in.dzNext()[l]).sumNumber().doubleValue();
        }
        return loss;
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"GEMMA,LINEAR", "LLAMA,DELTA"})
    @DisplayName("chained over segments (forward, then in reverse with the memory gradients passed back), the engine gives SegmentGradients' exact gradients")
    void chainedOverSegmentsEqualsSegmentGradients(ModelFamily family, MemoryUpdate rule) {
        InfiniModel model = TestModels.randomModel(config(family, 4, 2, rule, family == ModelFamily.GEMMA), 61, DataType.DOUBLE);
        Random rnd = new Random(8);
        int[][] rows = new int[B][2 * S + 4];                      // T = 2S + 3: segments S, S, 3
        for (int[] row : rows) {
            for (int j = 0; j < row.length; j++) {
                row[j] = rnd.nextInt(model.config().vocabSize());
            }
        }
        dev.infini.samediff.train.TrainBatch batch = dev.infini.samediff.train.TrainBatch.fromTokens(rows);
        dev.infini.samediff.train.SegmentGradients.Result ref = new dev.infini.samediff.train.SegmentGradients(model, S)
                .compute(batch, dev.infini.samediff.train.MemoryGradient.FULL);
        List<int[]> segs = SegmentRunner.segments(batch.length(), S);
        Map<Integer, FastSegment> engines = new java.util.HashMap<>();
        List<MemoryState> entering = new ArrayList<>();
        MemoryState state = model.zeroMemory(B);
        double nll = 0;
        for (int[] se : segs) {
            entering.add(state);
            FastSegment e = engines.computeIfAbsent(se[1] - se[0], len -> FastSegment.of(model, B, len));
            FastSegment.Result r = e.forwardLoss(slice(batch.inputIds(), se), null, slice(batch.labels(), se),
                    slice(batch.lossMask(), se), state);
            nll += r.nllSum();
            state = r.memory();
        }
        Map<String, INDArray> acc = new java.util.HashMap<>();
        INDArray[] dm = null, dz = null;
        for (int k = segs.size() - 1; k >= 0; k--) {
            int[] se = segs.get(k);
            FastSegment.Result r = engines.get(se[1] - se[0]).forwardBackward(slice(batch.inputIds(), se), null,
                    slice(batch.labels(), se), slice(batch.lossMask(), se), entering.get(k), dm, dz);
            r.addGradientsTo(acc);
            dm = r.memoryMGrad();
            dz = r.memoryZGrad();
        }
        assertEquals(ref.nllSum(), nll, 1e-9 * Math.abs(ref.nllSum()));
        double worst = 0;
        for (Map.Entry<String, INDArray> e : ref.gradients().entrySet()) {
            double err = TestModels.relError(acc.get(e.getKey()), e.getValue());
            assertTrue(err <= 1e-10, e.getKey() + ": relative error " + err);
            worst = Math.max(worst, err);
        }
        System.out.printf("engine chained over %d segments vs SegmentGradients FULL %s/%s: worst relative error %.2e%n",
                segs.size(), family, rule, worst);
    }

    private static INDArray slice(INDArray a, int[] se) {
        return a.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(se[0], se[1])).dup();
    }

    @Test
    @DisplayName("wrong shapes, out-of-vocabulary ids and non-binary attention masks are rejected with a clear message")
    void badInputsAreRejected() {
        InfiniModel model = TestModels.randomModel(config(ModelFamily.LLAMA, 2, 1, MemoryUpdate.LINEAR, false), 71, DataType.DOUBLE);
        FastSegment engine = FastSegment.of(model, B, S);
        INDArray ids = TestModels.randomIds(B, S, model.config().vocabSize(), 1);
        MemoryState zero = model.zeroMemory(B);
        IllegalArgumentException shape = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> engine.forward(TestModels.randomIds(B, S + 1, 5, 1), null, zero));
        assertTrue(shape.getMessage().contains("[" + B + ", " + S + "]"), shape.getMessage());
        INDArray bad = ids.dup();
        bad.putScalar(0, 0, model.config().vocabSize());
        assertTrue(org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> engine.forward(bad, null, zero)).getMessage().contains("outside the vocabulary"));
        INDArray half = Nd4j.ones(DataType.DOUBLE, B, S).muli(0.5);
        assertTrue(org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> engine.forward(ids, half, zero)).getMessage().contains("0 or 1"));
    }

    @Test
    @DisplayName("repeated calls reuse the engine's buffers and give the same answer; zero upstream memory gradients are allowed")
    void repeatedCallsAreStable() {
        InfiniModel model = TestModels.randomModel(config(ModelFamily.LLAMA, 4, 1, MemoryUpdate.DELTA, false), 51, DataType.DOUBLE);
        Inputs in = inputs(model, 13);
        FastSegment engine = FastSegment.of(model, B, S);
        FastSegment.Result a = engine.forwardBackward(in.ids(), in.mask(), in.labels(), in.lossMask(), in.memory(), null, null);
        INDArray q = a.gradients().get("model.layers.0.self_attn.q_proj.weight").dup();
        FastSegment.Result b = engine.forwardBackward(in.ids(), in.mask(), in.labels(), in.lossMask(), in.memory(), null, null);
        assertEquals(a.nllSum(), b.nllSum(), 0.0);
        assertEquals(0.0, TestModels.relError(b.gradients().get("model.layers.0.self_attn.q_proj.weight"), q), 0.0);
        Map<String, INDArray> acc = new java.util.HashMap<>();
        a.addGradientsTo(acc);
        b.addGradientsTo(acc);
        assertEquals(0.0, TestModels.relError(acc.get("model.layers.0.self_attn.q_proj.weight"), q.mul(2)), 1e-15);
    }
}
