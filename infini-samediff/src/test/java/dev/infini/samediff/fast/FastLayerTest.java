package dev.infini.samediff.fast;

import dev.infini.samediff.DecoderBlocks;
import dev.infini.samediff.GraphTables;
import dev.infini.samediff.InfiniAttention;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.TestModels;
import dev.infini.samediff.runtime.GraphRuntime;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One decoder layer of the fast kernel held to the per-layer SameDiff graph ({@link DecoderBlocks#decoderLayer}). */
class FastLayerTest {
    private static final int B = 2;
    private static final int S = 7;
    private static final int LAYER = 1;

    /** One segment's inputs of layer {@link #LAYER}: padded tail, non-zero memory and upstream gradients. */
    record Inputs(INDArray x, INDArray mask, MemoryState memory, INDArray dOut, INDArray dm, INDArray dz) {
    }

    static Inputs inputs(InfiniModel model, long seed) {
        InfiniConfig c = model.config();
        DataType dt = model.dtype();
        MemoryState all = new SegmentRunner(model, S).run(TestModels.randomIds(B, 2 * S, c.vocabSize(), seed)).memory();
        MemoryState mem = new MemoryState(new INDArray[] {all.m(LAYER)}, new INDArray[] {all.z(LAYER)});
        INDArray x = Nd4j.randn(seed + 1, new long[] {(long) B * S, c.hiddenSize()}).castTo(dt);
        INDArray mask = Nd4j.ones(dt, B, S);
        mask.putScalar(1, S - 1, 0.0);
        mask.putScalar(1, S - 2, 0.0);
        INDArray dOut = Nd4j.randn(seed + 2, new long[] {(long) B * S, c.hiddenSize()}).castTo(dt);
        INDArray dm = Nd4j.randn(seed + 3, new long[] {B, c.numKvHeads(), c.headDim(), c.headDim()}).castTo(dt).muli(0.1);
        INDArray dz = Nd4j.randn(seed + 4, new long[] {B, c.numKvHeads(), c.headDim()}).castTo(dt).muli(0.1);
        return new Inputs(x, mask, mem, dOut, dm, dz);
    }

    /**
     * The per-layer graph (as the DL4J decoder block builds it): outputs {@code out, M.next, z.next} and the
     * gradients of {@code <out, dOut> + <M', dM'> + <z', dz'>} w.r.t. the layer's parameters, {@code x, M, z}.
     */
    static Map<String, INDArray> graph(InfiniModel model, Inputs in) {
        InfiniConfig c = model.config();
        DataType dt = model.dtype();
        SameDiff sd = SameDiff.create();
        List<String> wrt = new ArrayList<>();
        String prefix = TensorNames.layer(LAYER, "");
        model.weights().forEach((name, w) -> {
            if (name.startsWith(prefix)) {
                sd.var(name, w.dup());
                wrt.add(name);
            }
        });
        SDVariable x = sd.placeHolder("x", dt, (long) B * S, c.hiddenSize());
        SDVariable mask = sd.placeHolder("mask", dt, B, S);
        SDVariable m = DecoderBlocks.memoryMPlaceholder(sd, "M", c, B, dt);
        SDVariable z = DecoderBlocks.memoryZPlaceholder(sd, "z", c, B, dt);
        InfiniAttention.SegmentContext ctx = GraphTables.segmentContext(sd, c, "", B, S, dt, mask);
        SDVariable[] r = DecoderBlocks.decoderLayer(sd, c, "layers." + LAYER, LAYER, B, S, ctx, x, m, z, "M.next", "z.next");
        SDVariable out = sd.identity("out", r[0]);
        SDVariable gOut = sd.placeHolder("out.grad", dt, (long) B * S, c.hiddenSize());
        SDVariable loss = DecoderBlocks.memoryObjective(sd, c, B, dt, out.mul(gOut).sum(), new SDVariable[] {r[1]},
                new SDVariable[] {r[2]}, new String[] {"M.next.grad"}, new String[] {"z.next.grad"});
        sd.identity("loss", loss);
        sd.setLossVariables("loss");
        GraphRuntime runtime = new GraphRuntime();
        runtime.register(sd, "x", "M", "z");
        Map<String, INDArray> ph = new HashMap<>();
        ph.put("x", in.x());
        ph.put("mask", in.mask());
        ph.put("M", in.memory().m(0));
        ph.put("z", in.memory().z(0));
        ph.put("out.grad", in.dOut());
        ph.put("M.next.grad", in.dm());
        ph.put("z.next.grad", in.dz());
        wrt.addAll(List.of("x", "M", "z"));
        return runtime.outputsAndGradients(sd, ph, List.of("out", "M.next", "z.next"), wrt);
    }

    @ParameterizedTest(name = "{0} H={1} Hkv={2} {3} tied={4} {5}")
    @CsvSource({
        "GEMMA,4,1,LINEAR,true,FLOAT", "GEMMA,4,1,LINEAR,true,DOUBLE",
        "LLAMA,4,2,DELTA,false,FLOAT", "LLAMA,4,2,DELTA,false,DOUBLE"})
    @DisplayName("output, memory out and the gradients of x, every layer parameter and the incoming memory equal the per-layer SameDiff graph's")
    void layerEqualsPerLayerSameDiffGraph(ModelFamily family, int heads, int kvHeads, MemoryUpdate rule, boolean tied,
                                          DataType dtype) {
        InfiniModel model = TestModels.randomModel(FastSegmentTest.config(family, heads, kvHeads, rule, tied), 31, dtype);
        Inputs in = inputs(model, 7);
        Map<String, INDArray> ref = graph(model, in);
        FastLayer layer = new FastLayer(model.config(), LAYER, model.weights(), B, S, dtype);
        FastLayer.Forward fwd = layer.forward(in.x(), in.mask(), in.memory());
        FastLayer.Result res = layer.forwardBackward(in.x(), in.mask(), in.memory(), in.dOut(), in.dm(), in.dz());
        boolean dbl = dtype == DataType.DOUBLE;
        double valueTol = dbl ? 1e-12 : 1e-5, gradTol = dbl ? 1e-12 : 1e-4;
        double worstValue = Math.max(TestModels.relError(fwd.out(), ref.get("out")), TestModels.relError(res.out(), ref.get("out")));
        worstValue = Math.max(worstValue, TestModels.relError(res.memory().m(0), ref.get("M.next")));
        worstValue = Math.max(worstValue, TestModels.relError(res.memory().z(0), ref.get("z.next").reshape(res.memory().z(0).shape())));
        worstValue = Math.max(worstValue, TestModels.relError(fwd.memory().m(0), ref.get("M.next")));
        assertTrue(worstValue <= valueTol, "output/memory relative error " + worstValue);
        double worstGrad = 0;
        assertEquals(10, res.gradients().size());
        for (Map.Entry<String, INDArray> e : res.gradients().entrySet()) {
            double err = TestModels.relError(e.getValue(), ref.get(e.getKey()).reshape(e.getValue().shape()));
            assertTrue(err <= gradTol, e.getKey() + ": relative error " + err);
            worstGrad = Math.max(worstGrad, err);
        }
        double ex = TestModels.relError(res.dx(), ref.get("x"));
        double em = TestModels.relError(res.dm(), ref.get("M"));
        double ez = TestModels.relError(res.dz(), ref.get("z").reshape(res.dz().shape()));
        assertTrue(ex <= gradTol && em <= gradTol && ez <= gradTol, "dx " + ex + ", dM " + em + ", dz " + ez);
        worstGrad = Math.max(worstGrad, Math.max(ex, Math.max(em, ez)));
        System.out.printf("FastLayer vs per-layer SameDiff %s H=%d Hkv=%d %s %s: values %.2e, gradients %.2e%n",
                family, heads, kvHeads, rule, dtype, worstValue, worstGrad);
    }

    @Test
    @DisplayName("a [B, S, D] input equals the [B*S, D] one, and repeated calls return fresh arrays the engine does not overwrite")
    void shapesAndFreshArrays() {
        InfiniModel model = TestModels.randomModel(FastSegmentTest.config(ModelFamily.LLAMA, 4, 2, MemoryUpdate.DELTA, false),
                3, DataType.DOUBLE);
        Inputs in = inputs(model, 11);
        FastLayer layer = new FastLayer(model.config(), LAYER, model.weights(), B, S, DataType.DOUBLE);
        FastLayer.Result a = layer.forwardBackward(in.x(), in.mask(), in.memory(), in.dOut(), in.dm(), in.dz());
        INDArray out = a.out().dup(), dx = a.dx().dup(), g = a.gradients().get(TensorNames.qProj(LAYER)).dup();
        FastLayer.Result b = layer.forwardBackward(in.x().reshape(B, S, -1).mul(2), in.mask(), in.memory(),
                in.dOut().reshape(B, S, -1), null, null);
        assertTrue(TestModels.relError(a.out(), out) == 0 && TestModels.relError(a.dx(), dx) == 0
                && TestModels.relError(a.gradients().get(TensorNames.qProj(LAYER)), g) == 0, "earlier results kept");
        assertTrue(TestModels.relError(b.out(), out) > 1e-3, "second call computed anew");
        FastLayer.Forward f = layer.forward(in.x().reshape(B, S, -1), in.mask(), in.memory());
        assertTrue(TestModels.relError(f.out(), out) < 1e-14);
    }

    @Test
    @DisplayName("wrong shapes, a non-0/1 mask, a bad layer index or dtype are rejected")
    void badInputsAreRejected() {
        InfiniModel model = TestModels.randomModel(FastSegmentTest.config(ModelFamily.GEMMA, 4, 1, MemoryUpdate.LINEAR, true),
                3, DataType.FLOAT);
        Inputs in = inputs(model, 1);
        InfiniConfig c = model.config();
        FastLayer layer = new FastLayer(c, LAYER, model.weights(), B, S, DataType.FLOAT);
        assertThrows(IllegalArgumentException.class, () -> layer.forward(in.x().get(
                org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 3)), in.mask(), in.memory()));
        assertThrows(IllegalArgumentException.class, () -> layer.forward(in.x(), in.mask().mul(0.5), in.memory()));
        assertThrows(IllegalArgumentException.class, () -> layer.forward(in.x(), in.mask(),
                new MemoryState(new INDArray[] {in.memory().m(0), in.memory().m(0)}, new INDArray[] {in.memory().z(0), in.memory().z(0)})));
        assertThrows(IllegalArgumentException.class, () -> new FastLayer(c, 2, model.weights(), B, S, DataType.FLOAT));
        assertThrows(IllegalArgumentException.class, () -> new FastLayer(c, 0, model.weights(), B, S, DataType.HALF));
    }
}
