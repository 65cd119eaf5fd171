package dev.infini.zoo.dl4j;

import dev.infini.samediff.DecoderBlocks;
import dev.infini.samediff.GraphTables;
import dev.infini.samediff.InfiniAttention;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.fast.FastLayer;
import dev.infini.samediff.train.SegmentRecurrence;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.IUpdater;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One Infini-attention decoder layer as a DL4J layer: hidden states {@code [B, T, D]} in and out, the
 * feature mask {@code [B, T]} as padding mask. Inside, the block is cut into segments
 * ({@link SegmentRunner#segments}) and each segment runs the core's layer graph
 * ({@link DecoderBlocks#decoderLayer}: RMSNorm, {@link InfiniAttention#apply}, MLP) with the memory
 * {@code M, z} passed from one segment to the next, starting from zero.
 *
 * <p>Back-propagation is exact through the memory of all segments, in one of two ways:
 * <ul>
 *   <li>{@code checkpointing = true}: the forward pass keeps only the layer input and the memory entering
 *   each segment; the backward pass goes through the segments in reverse, recomputing each one and
 *   feeding it the gradient of its output and of the memory it left; the gradient of its incoming
 *   memory goes to the segment before ({@link SegmentRecurrence}, as for the whole decoder). Peak memory: one segment's
 *   activations plus the per-segment memory states.</li>
 *   <li>{@code checkpointing = false}: one graph unrolled over all segments of the block, memory flowing
 *   inside it, differentiated at once: every segment's activations are alive together.</li>
 * </ul>
 * What computes a segment with checkpointing is the {@code kernel}: {@link SegmentKernel#FAST}, the core's
 * hand-written layer ({@link FastLayer}, held equal to the layer graph by {@code FastLayerTest}), or
 * {@link SegmentKernel#SAMEDIFF}, the layer graph; unset (null), {@link SegmentKernel#defaultFor} the network's dtype
 * (FAST on the CPU backend in float/double). The unrolled form ({@code checkpointing = false}) is always the graph.
 *
 * <p>Parameters (key: Hugging Face tensor of layer {@code layerIndex}): {@code inNorm, q, k, v, o, gate,
 * postNorm, mlpGate, mlpUp, mlpDown}.
 */
public class InfiniDecoderBlock extends InfiniLayerConf {
    private int layerIndex;
    private int segmentSize;
    private boolean checkpointing = true;

    public InfiniDecoderBlock() {
    }

    public InfiniDecoderBlock(String name, InfiniConfig config, int layerIndex, int segmentSize, boolean checkpointing,
                              IUpdater updater, IUpdater gateUpdater, double weightDecay, double initStd, double gateInit) {
        super(name, config, updater, gateUpdater, weightDecay, initStd, gateInit);
        this.layerIndex = layerIndex;
        this.segmentSize = segmentSize;
        this.checkpointing = checkpointing;
    }

    /** Parameter key to Hugging Face tensor name of layer {@code i}. */
    public static Map<String, String> keys(int i) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("inNorm", TensorNames.inputNorm(i));
        m.put("q", TensorNames.qProj(i));
        m.put("k", TensorNames.kProj(i));
        m.put("v", TensorNames.vProj(i));
        m.put("o", TensorNames.oProj(i));
        m.put("gate", TensorNames.gate(i));
        m.put("postNorm", TensorNames.postAttentionNorm(i));
        m.put("mlpGate", TensorNames.mlpGate(i));
        m.put("mlpUp", TensorNames.mlpUp(i));
        m.put("mlpDown", TensorNames.mlpDown(i));
        return m;
    }

    @Override
    public LinkedHashMap<String, TensorNames.Spec> params() {
        return select(keys(layerIndex));
    }

    @Override
    InfiniLayerImpl<?> newImpl(NeuralNetConfiguration conf, DataType dtype) {
        return new Impl(conf, dtype);
    }

    public int getLayerIndex() { return layerIndex; }
    public void setLayerIndex(int layerIndex) { this.layerIndex = layerIndex; }
    /** Segment length inside the layer; 0 or less means the model config's {@code segment_size}. */
    public int getSegmentSize() { return segmentSize; }
    public void setSegmentSize(int segmentSize) { this.segmentSize = segmentSize; }
    public boolean isCheckpointing() { return checkpointing; }
    public void setCheckpointing(boolean checkpointing) { this.checkpointing = checkpointing; }

    @Override
    public boolean equals(Object o) {
        return super.equals(o) && o instanceof InfiniDecoderBlock b && b.layerIndex == layerIndex
                && b.segmentSize == segmentSize && b.checkpointing == checkpointing;
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + layerIndex * 7 + segmentSize * 3 + (checkpointing ? 1 : 0);
    }

    static final class Impl extends InfiniLayerImpl<InfiniDecoderBlock> {
        /** Memory entering each segment, kept by a training forward pass for the backward pass. */
        private List<MemoryState> entering;
        private INDArray enteringFor;
        /** Fast engines of this layer instance by {@code "B x S"} (one per segment shape; never shared). */
        private final Map<String, FastLayer> engines = new HashMap<>();
        /** This layer's weights by Hugging Face name for the engines: c-order copies, refreshed every pass. */
        private final Map<String, INDArray> fastWeights = new HashMap<>();

        Impl(NeuralNetConfiguration conf, DataType dtype) {
            super(conf, dtype);
        }

        int segmentSize() {
            return lc().getSegmentSize() > 0 ? lc().getSegmentSize() : model().segmentSize();
        }

        private boolean fast() {
            return lc().kernelFor(dataType) == SegmentKernel.FAST;
        }

        /** Copies the current parameters for the engines (once per pass: the weights do not change within one). */
        private void refreshFastWeights() {
            for (Map.Entry<String, TensorNames.Spec> e : lc().params().entrySet()) {
                fastWeights.put(e.getValue().name(), getParam(e.getKey()).dup('c'));
            }
        }

        /** The engine of this layer instance for segments of {@code b x s}. */
        private FastLayer engine(int b, int s) {
            if (engines.size() >= 4 && !engines.containsKey(b + "x" + s)) {
                engines.clear();                // batch sizes change rarely (a last, smaller batch): keep few
            }
            return engines.computeIfAbsent(b + "x" + s,
                    k -> new FastLayer(model(), lc().getLayerIndex(), fastWeights, b, s, dataType));
        }

        private String prefix() {
            return "layers." + lc().getLayerIndex();
        }

        /**
         * One segment: in {@code x [B*S, D], mask [B, S], M [B, Hkv, d, d], z [B, Hkv, d]} (and the upstream
         * gradients {@code out.grad, M.next.grad, z.next.grad} for training); out {@code out, M.next, z.next};
         * loss: the surrogate objective {@link DecoderBlocks#memoryObjective} with base {@code sum(out * out.grad)}.
         */
        private SameDiff segmentGraph(int b, int s) {
            InfiniConfig c = model();
            int i = lc().getLayerIndex(), d = c.hiddenSize();
            return graph("seg" + b + "x" + s, sd -> {
                SDVariable x = sd.placeHolder("x", dataType, (long) b * s, d);
                SDVariable mask = sd.placeHolder("mask", dataType, b, s);
                SDVariable m = DecoderBlocks.memoryMPlaceholder(sd, "M", c, b, dataType);
                SDVariable z = DecoderBlocks.memoryZPlaceholder(sd, "z", c, b, dataType);
                InfiniAttention.SegmentContext ctx = GraphTables.segmentContext(sd, c, "", b, s, dataType, mask);
                SDVariable[] r = DecoderBlocks.decoderLayer(sd, c, prefix(), i, b, s, ctx, x, m, z, "M.next", "z.next");
                SDVariable out = sd.identity("out", r[0]);
                SDVariable gOut = sd.placeHolder("out.grad", dataType, (long) b * s, d);
                SDVariable loss = DecoderBlocks.memoryObjective(sd, c, b, dataType, out.mul(gOut).sum(),
                        new SDVariable[] {r[1]}, new SDVariable[] {r[2]}, new String[] {"M.next.grad"},
                        new String[] {"z.next.grad"});
                sd.identity("loss", loss);
                sd.setLossVariables("loss");
            }, "x", "M", "z");
        }

        /**
         * All segments of a block in one graph, memory flowing inside it ({@link DecoderBlocks#unroll}):
         * in {@code x.k, mask.k, out.grad.k}; loss {@code sum_k sum(out_k * out.grad.k)}.
         */
        private SameDiff unrolledGraph(int b, List<int[]> segs) {
            InfiniConfig c = model();
            int i = lc().getLayerIndex(), d = c.hiddenSize(), nkv = c.numKvHeads(), hd = c.headDim();
            StringBuilder key = new StringBuilder("unrolled" + b);
            segs.forEach(se -> key.append('_').append(se[1] - se[0]));
            String[] xs = new String[segs.size()];
            for (int k = 0; k < xs.length; k++) {
                xs[k] = "x." + k;
            }
            return graph(key.toString(), sd -> {
                SDVariable m0 = sd.constant("M0", Nd4j.zeros(dataType, b, nkv, hd, hd));
                SDVariable z0 = sd.constant("z0", Nd4j.zeros(dataType, b, nkv, hd));
                SDVariable loss = DecoderBlocks.unroll(segs.size(), new SDVariable[] {m0}, new SDVariable[] {z0},
                        (k, t, m, z) -> {
                            int s = segs.get(k)[1] - segs.get(k)[0];
                            SDVariable x = sd.placeHolder(xs[k], dataType, (long) b * s, d);
                            SDVariable mask = sd.placeHolder("mask." + k, dataType, b, s);
                            InfiniAttention.SegmentContext ctx = GraphTables.segmentContext(sd, c, t, b, s, dataType, mask);
                            SDVariable[] r = DecoderBlocks.decoderLayer(sd, c, t + prefix(), i, b, s, ctx, x, m[0], z[0],
                                    t + "M.next", t + "z.next");
                            SDVariable gOut = sd.placeHolder("out.grad." + k, dataType, (long) b * s, d);
                            return new DecoderBlocks.UnrolledTerm(r[0].mul(gOut).sum(), new SDVariable[] {r[1]},
                                    new SDVariable[] {r[2]});
                        }, null);
                sd.identity("loss", loss);
                sd.setLossVariables("loss");
            }, xs);
        }

        private INDArray maskOrOnes() {
            if (maskArray == null) {
                return Nd4j.ones(dataType, input.size(0), input.size(1));
            }
            return maskArray.castTo(dataType).reshape(input.size(0), input.size(1));
        }

        private static INDArray slice(INDArray a, int[] se) {
            INDArrayIndex[] idx = new INDArrayIndex[a.rank()];
            java.util.Arrays.fill(idx, NDArrayIndex.all());
            idx[1] = NDArrayIndex.interval(se[0], se[1]);
            return a.get(idx).dup('c');
        }

        private void checkInput() {
            if (input.rank() != 3 || input.size(2) != model().hiddenSize()) {
                throw new IllegalArgumentException(layerId() + ": input must be [batch, time, " + model().hiddenSize()
                        + "], got " + java.util.Arrays.toString(input.shape()));
            }
        }

        @Override
        public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
            assertInputSet(false);
            checkInput();
            INDArray result;
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                result = forward(training);
            }
            return out(mgr, ArrayType.ACTIVATIONS, result);
        }

        /** Segment by segment; with {@code keep} the memory entering each segment is kept for backprop. */
        private INDArray forward(boolean keep) {
            if (fast()) {
                refreshFastWeights();
            }
            Segments segs = new Segments(null);
            List<MemoryState> kept = keep ? new ArrayList<>(segs.bounds.size()) : null;
            SegmentRecurrence.forward(segs.bounds.size(), segs.zeroMemory(), segs, kept);
            entering = kept;
            enteringFor = keep ? input : null;
            List<INDArray> outs = segs.outs;
            return outs.size() == 1 ? outs.get(0) : Nd4j.concat(1, outs.toArray(new INDArray[0]));
        }

        @Override
        public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
            assertInputSet(true);
            checkInput();
            Pair<Gradient, INDArray> r;
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                INDArray eps = epsilon.castTo(dataType);
                r = lc().isCheckpointing() ? backpropCheckpointed(eps) : backpropUnrolled(eps);
            }
            entering = null;
            enteringFor = null;
            return new Pair<>(r.getFirst(), out(mgr, ArrayType.ACTIVATION_GRAD, r.getSecond()));
        }

        /** Exact back-propagation through memory by per-segment recomputation ({@link SegmentRecurrence}). */
        private Pair<Gradient, INDArray> backpropCheckpointed(INDArray eps) {
            if (entering == null || enteringFor != input) {
                forward(true);
            } else if (fast()) {
                refreshFastWeights();
            }
            Segments segs = new Segments(eps);
            Map<String, INDArray> acc = SegmentRecurrence.backward(entering, segs, new HashMap<>());
            return new Pair<>(gradient(acc, 1.0), segs.dx);
        }

        private Pair<Gradient, INDArray> backpropUnrolled(INDArray eps) {
            InfiniConfig c = model();
            int b = (int) input.size(0), d = c.hiddenSize();
            INDArray x = input.castTo(dataType), mask = maskOrOnes();
            List<int[]> segs = SegmentRunner.segments(x.size(1), segmentSize());
            SameDiff sd = unrolledGraph(b, segs);
            Map<String, INDArray> ph = new HashMap<>();
            List<String> wrt = paramNames();
            for (int k = 0; k < segs.size(); k++) {
                int[] se = segs.get(k);
                int s = se[1] - se[0];
                ph.put("x." + k, slice(x, se).reshape((long) b * s, d));
                ph.put("mask." + k, slice(mask, se));
                ph.put("out.grad." + k, slice(eps, se).reshape((long) b * s, d));
                wrt.add("x." + k);
            }
            Map<String, INDArray> g = gradients(sd, ph, List.of(), wrt);
            List<INDArray> dxs = new ArrayList<>();
            for (int k = 0; k < segs.size(); k++) {
                int s = segs.get(k)[1] - segs.get(k)[0];
                dxs.add(g.get("x." + k).reshape(b, s, d));
            }
            INDArray dx = dxs.size() == 1 ? dxs.get(0) : Nd4j.concat(1, dxs.toArray(new INDArray[0]));
            return new Pair<>(gradient(g, 1.0), dx);
        }

        /**
         * This layer's segments for {@link SegmentRecurrence}, the memory being one layer's: forward runs collect
         * the outputs, backward runs write the input gradient {@code dx [B, T, D]}.
         */
        private final class Segments implements SegmentRecurrence.Segment {
            final INDArray x = input.castTo(dataType), mask = maskOrOnes(), eps;
            final int b = (int) input.size(0), d = model().hiddenSize();
            final List<int[]> bounds = SegmentRunner.segments(x.size(1), segmentSize());
            final List<INDArray> outs = new ArrayList<>();
            final INDArray dx;

            /** @param eps the gradient of the layer output {@code [B, T, D]}, null for forward runs only */
            Segments(INDArray eps) {
                this.eps = eps;
                this.dx = eps == null ? null : Nd4j.zeros(dataType, x.shape());
            }

            MemoryState zeroMemory() {
                InfiniConfig c = model();
                return new MemoryState(new INDArray[] {Nd4j.zeros(dataType, b, c.numKvHeads(), c.headDim(), c.headDim())},
                        new INDArray[] {Nd4j.zeros(dataType, b, c.numKvHeads(), c.headDim())});
            }

            private Map<String, INDArray> placeholders(int k, MemoryState in) {
                int[] se = bounds.get(k);
                Map<String, INDArray> ph = new HashMap<>();
                ph.put("x", slice(x, se).reshape((long) b * (se[1] - se[0]), d));
                ph.put("mask", slice(mask, se));
                ph.put("M", in.m(0));
                ph.put("z", in.z(0));
                return ph;
            }

            @Override
            public MemoryState forward(int k, MemoryState in) {
                int s = bounds.get(k)[1] - bounds.get(k)[0];
                if (fast()) {
                    Map<String, INDArray> ph = placeholders(k, in);
                    FastLayer.Forward f = engine(b, s).forward(ph.get("x"), ph.get("mask"), in);
                    outs.add(f.out().reshape(b, s, d));
                    return f.memory();
                }
                Map<String, INDArray> o = segmentGraph(b, s).output(placeholders(k, in), "out", "M.next", "z.next");
                outs.add(o.get("out").reshape(b, s, d));
                return new MemoryState(new INDArray[] {o.get("M.next")}, new INDArray[] {o.get("z.next")});
            }

            @Override
            public SegmentRecurrence.Grads backward(int k, MemoryState in, MemoryState upstream, boolean memoryGradient,
                                                    boolean memoryOut) {
                if (fast()) {
                    return backwardFast(k, in, upstream, memoryGradient, memoryOut);
                }
                int[] se = bounds.get(k);
                int s = se[1] - se[0];
                Map<String, INDArray> ph = placeholders(k, in);
                MemoryState up = upstream != null ? upstream : zeroMemory();
                ph.put("out.grad", slice(eps, se).reshape((long) b * s, d));
                ph.put("M.next.grad", up.m(0));
                ph.put("z.next.grad", up.z(0));
                List<String> wrt = paramNames();
                wrt.add("x");
                if (memoryGradient) {
                    wrt.add("M");
                    wrt.add("z");
                }
                Map<String, INDArray> g = gradients(segmentGraph(b, s), ph,
                        memoryOut ? List.of("M.next", "z.next") : List.of(), wrt);
                dx.get(NDArrayIndex.all(), NDArrayIndex.interval(se[0], se[1]), NDArrayIndex.all())
                        .assign(g.get("x").reshape(b, s, d));
                Map<String, INDArray> params = new LinkedHashMap<>();
                paramNames().forEach(p -> params.put(p, g.get(p)));
                return new SegmentRecurrence.Grads(params,
                        memoryGradient ? new MemoryState(new INDArray[] {g.get("M")}, new INDArray[] {g.get("z")}) : null,
                        memoryOut ? new MemoryState(new INDArray[] {g.get("M.next")}, new INDArray[] {g.get("z.next")}) : null);
            }

            /** {@link #backward} on the fast kernel: every array it returns or keeps is new (none is the engine's). */
            private SegmentRecurrence.Grads backwardFast(int k, MemoryState in, MemoryState upstream,
                                                         boolean memoryGradient, boolean memoryOut) {
                int[] se = bounds.get(k);
                int s = se[1] - se[0];
                Map<String, INDArray> ph = placeholders(k, in);
                FastLayer.Result r = engine(b, s).forwardBackward(ph.get("x"), ph.get("mask"), in,
                        slice(eps, se).reshape((long) b * s, d), upstream == null ? null : upstream.m(0),
                        upstream == null ? null : upstream.z(0));
                dx.get(NDArrayIndex.all(), NDArrayIndex.interval(se[0], se[1]), NDArrayIndex.all())
                        .assign(r.dx().reshape(b, s, d));
                InfiniConfig c = model();
                MemoryState memIn = memoryGradient ? new MemoryState(new INDArray[] {r.dm()},
                        new INDArray[] {r.dz().reshape(b, c.numKvHeads(), c.headDim())}) : null;
                return new SegmentRecurrence.Grads(new LinkedHashMap<>(r.gradients()), memIn, memoryOut ? r.memory() : null);
            }
        }
    }
}
