package dev.infini.zoo.dl4j;

import dev.infini.samediff.DecoderGraph;
import dev.infini.samediff.InfiniAttention;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TensorNames;
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
 * ({@link DecoderGraph#decoderLayer}: RMSNorm, {@link InfiniAttention#apply}, MLP) with the memory
 * {@code M, z} passed from one segment to the next, starting from zero.
 *
 * <p>Back-propagation is exact through the memory of all segments, in one of two ways:
 * <ul>
 *   <li>{@code checkpointing = true}: the forward pass keeps only the layer input and the memory entering
 *   each segment; the backward pass goes through the segments in reverse, recomputing each one and
 *   feeding it the gradient of its output and of the memory it left; the gradient of its incoming
 *   memory goes to the segment before (like {@code train.SegmentGradients}). Peak memory: one segment's
 *   activations plus the per-segment memory states.</li>
 *   <li>{@code checkpointing = false}: one graph unrolled over all segments of the block, memory flowing
 *   inside it, differentiated at once: every segment's activations are alive together.</li>
 * </ul>
 * Parameters (key: Hugging Face tensor of layer {@code layerIndex}): {@code inNorm, q, k, v, o, gate,
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
        private List<INDArray[]> entering;
        private INDArray enteringFor;

        Impl(NeuralNetConfiguration conf, DataType dtype) {
            super(conf, dtype);
        }

        int segmentSize() {
            return lc().getSegmentSize() > 0 ? lc().getSegmentSize() : model().segmentSize();
        }

        private String prefix() {
            return "layers." + lc().getLayerIndex();
        }

        /** One segment: in {@code x, mask, M, z} (and upstream gradients for training); out {@code out, M.next, z.next}. */
        private SameDiff segmentGraph(int b, int s) {
            InfiniConfig c = model();
            int i = lc().getLayerIndex(), d = c.hiddenSize(), nkv = c.numKvHeads(), hd = c.headDim();
            return graph("seg" + b + "x" + s, sd -> {
                SDVariable x = sd.placeHolder("x", dataType, (long) b * s, d);
                SDVariable mask = sd.placeHolder("mask", dataType, b, s);
                SDVariable m = sd.placeHolder("M", dataType, b, nkv, hd, hd);
                SDVariable z = sd.placeHolder("z", dataType, b, nkv, hd, 1);
                InfiniAttention.SegmentContext ctx = DecoderGraph.segmentContext(sd, c, "", b, s, dataType, mask);
                SDVariable[] r = DecoderGraph.decoderLayer(sd, c, prefix(), i, b, s, ctx, x, m, z, "M.next", "z.next");
                SDVariable out = sd.identity("out", r[0]);
                SDVariable gOut = sd.placeHolder("out.grad", dataType, (long) b * s, d);
                SDVariable gM = sd.placeHolder("M.next.grad", dataType, b, nkv, hd, hd);
                SDVariable gZ = sd.placeHolder("z.next.grad", dataType, b, nkv, hd, 1);
                SDVariable loss = out.mul(gOut).sum().add(r[1].mul(gM).sum()).add(r[2].mul(gZ).sum());
                sd.identity("loss", loss);
                sd.setLossVariables("loss");
                DecoderGraph.createGradFunction(sd, "x", "M", "z");
            });
        }

        /** All segments of a block in one graph, memory flowing inside it: in {@code x.k, mask.k, out.grad.k}. */
        private SameDiff unrolledGraph(int b, List<int[]> segs) {
            InfiniConfig c = model();
            int i = lc().getLayerIndex(), d = c.hiddenSize(), nkv = c.numKvHeads(), hd = c.headDim();
            StringBuilder key = new StringBuilder("unrolled" + b);
            segs.forEach(se -> key.append('_').append(se[1] - se[0]));
            return graph(key.toString(), sd -> {
                SDVariable m = sd.constant("M0", Nd4j.zeros(dataType, b, nkv, hd, hd));
                SDVariable z = sd.constant("z0", Nd4j.zeros(dataType, b, nkv, hd, 1));
                SDVariable loss = null;
                for (int k = 0; k < segs.size(); k++) {
                    int s = segs.get(k)[1] - segs.get(k)[0];
                    String t = "seg" + k + "/";
                    SDVariable x = sd.placeHolder("x." + k, dataType, (long) b * s, d);
                    SDVariable mask = sd.placeHolder("mask." + k, dataType, b, s);
                    InfiniAttention.SegmentContext ctx = DecoderGraph.segmentContext(sd, c, t, b, s, dataType, mask);
                    SDVariable[] r = DecoderGraph.decoderLayer(sd, c, t + prefix(), i, b, s, ctx, x, m, z,
                            t + "M.next", t + "z.next");
                    SDVariable gOut = sd.placeHolder("out.grad." + k, dataType, (long) b * s, d);
                    SDVariable term = r[0].mul(gOut).sum();
                    loss = loss == null ? term : loss.add(term);
                    m = r[1];
                    z = r[2];
                }
                sd.identity("loss", loss);
                sd.setLossVariables("loss");
                String[] xs = new String[segs.size()];
                for (int k = 0; k < xs.length; k++) {
                    xs[k] = "x." + k;
                }
                DecoderGraph.createGradFunction(sd, xs);
            });
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
            InfiniConfig c = model();
            int b = (int) input.size(0), d = c.hiddenSize(), nkv = c.numKvHeads(), hd = c.headDim();
            INDArray x = input.castTo(dataType), mask = maskOrOnes();
            INDArray m = Nd4j.zeros(dataType, b, nkv, hd, hd), z = Nd4j.zeros(dataType, b, nkv, hd, 1);
            List<int[]> segs = SegmentRunner.segments(x.size(1), segmentSize());
            List<INDArray> outs = new ArrayList<>(segs.size());
            List<INDArray[]> kept = keep ? new ArrayList<>(segs.size()) : null;
            for (int[] se : segs) {
                int s = se[1] - se[0];
                if (kept != null) {
                    kept.add(new INDArray[] {m, z});
                }
                SameDiff sd = segmentGraph(b, s);
                Map<String, INDArray> ph = new HashMap<>();
                ph.put("x", slice(x, se).reshape((long) b * s, d));
                ph.put("mask", slice(mask, se));
                ph.put("M", m);
                ph.put("z", z);
                Map<String, INDArray> o = sd.output(ph, "out", "M.next", "z.next");
                outs.add(o.get("out").reshape(b, s, d));
                m = o.get("M.next");
                z = o.get("z.next");
            }
            entering = kept;
            enteringFor = keep ? input : null;
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

        private List<String> paramNames() {
            List<String> names = new ArrayList<>();
            lc().params().values().forEach(s -> names.add(s.name()));
            return names;
        }

        private Pair<Gradient, INDArray> backpropCheckpointed(INDArray eps) {
            InfiniConfig c = model();
            int b = (int) input.size(0), d = c.hiddenSize(), nkv = c.numKvHeads(), hd = c.headDim();
            if (entering == null || enteringFor != input) {
                forward(true);
            }
            INDArray x = input.castTo(dataType), mask = maskOrOnes();
            List<int[]> segs = SegmentRunner.segments(x.size(1), segmentSize());
            INDArray dx = Nd4j.zeros(dataType, x.shape());
            Map<String, INDArray> acc = new HashMap<>();
            INDArray gM = Nd4j.zeros(dataType, b, nkv, hd, hd), gZ = Nd4j.zeros(dataType, b, nkv, hd, 1);
            List<String> params = paramNames();
            for (int k = segs.size() - 1; k >= 0; k--) {
                int[] se = segs.get(k);
                int s = se[1] - se[0];
                SameDiff sd = segmentGraph(b, s);
                Map<String, INDArray> ph = new HashMap<>();
                ph.put("x", slice(x, se).reshape((long) b * s, d));
                ph.put("mask", slice(mask, se));
                ph.put("M", entering.get(k)[0]);
                ph.put("z", entering.get(k)[1]);
                ph.put("out.grad", slice(eps, se).reshape((long) b * s, d));
                ph.put("M.next.grad", gM);
                ph.put("z.next.grad", gZ);
                List<String> wrt = new ArrayList<>(params);
                wrt.add("x");
                if (k > 0) {
                    wrt.add("M");
                    wrt.add("z");
                }
                Map<String, INDArray> g = sd.calculateGradients(ph, wrt);
                for (String p : params) {
                    INDArray gp = g.get(p);
                    if (gp != null) {
                        acc.merge(p, gp.dup(), INDArray::addi);
                    }
                }
                dx.get(NDArrayIndex.all(), NDArrayIndex.interval(se[0], se[1]), NDArrayIndex.all())
                        .assign(g.get("x").reshape(b, s, d));
                if (k > 0) {
                    gM = g.get("M").dup();
                    gZ = g.get("z").dup();
                }
            }
            return new Pair<>(gradient(acc, 1.0), dx);
        }

        private Pair<Gradient, INDArray> backpropUnrolled(INDArray eps) {
            InfiniConfig c = model();
            int b = (int) input.size(0), d = c.hiddenSize();
            INDArray x = input.castTo(dataType), mask = maskOrOnes();
            List<int[]> segs = SegmentRunner.segments(x.size(1), segmentSize());
            SameDiff sd = unrolledGraph(b, segs);
            Map<String, INDArray> ph = new HashMap<>();
            List<String> wrt = new ArrayList<>(paramNames());
            for (int k = 0; k < segs.size(); k++) {
                int[] se = segs.get(k);
                int s = se[1] - se[0];
                ph.put("x." + k, slice(x, se).reshape((long) b * s, d));
                ph.put("mask." + k, slice(mask, se));
                ph.put("out.grad." + k, slice(eps, se).reshape((long) b * s, d));
                wrt.add("x." + k);
            }
            Map<String, INDArray> g = sd.calculateGradients(ph, wrt);
            List<INDArray> dxs = new ArrayList<>();
            for (int k = 0; k < segs.size(); k++) {
                int s = segs.get(k)[1] - segs.get(k)[0];
                dxs.add(g.get("x." + k).reshape(b, s, d));
            }
            INDArray dx = dxs.size() == 1 ? dxs.get(0) : Nd4j.concat(1, dxs.toArray(new INDArray[0]));
            return new Pair<>(gradient(g, 1.0), dx);
        }
    }
}
