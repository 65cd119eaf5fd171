package dev.infini.zoo.dl4j;

import dev.infini.samediff.DecoderBlocks;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.fast.FastEmbedding;
import dev.infini.samediff.TensorNames;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.learning.config.IUpdater;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Token embedding of a decoder as a DL4J layer: token ids {@code [B, T]} (any numeric type) to hidden
 * states {@code [B, T, D]}, through {@link DecoderBlocks#embed} (Gemma's sqrt(D) scaling included).
 * Parameter {@code E} = {@code model.embed_tokens.weight}. With a tied head, the head layer's copy of
 * {@code E} and this one receive the same summed gradient (see {@link TiedHead}). A {@code token_shift} model (beyond
 * the paper; spec, "Beyond the paper: token shift") also has {@code P} = {@code model.embed_prev_tokens.weight}: each
 * position adds {@code P} of the token before it in its segment ({@code segmentSize}, as the decoder blocks cut it).
 *
 * <p>The {@code kernel}: {@link SegmentKernel#FAST}, the fast kernel's {@link FastEmbedding} (the same code as
 * {@code FastSegment}); {@link SegmentKernel#SAMEDIFF}, the layer graph; unset (null),
 * {@link SegmentKernel#defaultFor} the network's dtype.
 */
public class InfiniEmbedding extends InfiniLayerConf {
    public static final String E = "E";
    public static final String P = "P";
    private int segmentSize;


    public InfiniEmbedding() {
    }

    public InfiniEmbedding(String name, InfiniConfig config, IUpdater updater, IUpdater gateUpdater, double weightDecay,
                           double initStd, double gateInit) {
        super(name, config, updater, gateUpdater, weightDecay, initStd, gateInit);
    }

    @Override
    public LinkedHashMap<String, TensorNames.Spec> params() {
        Map<String, String> keys = new LinkedHashMap<>();
        keys.put(E, TensorNames.EMBED);
        if (infiniConfig().tokenShift()) {
            keys.put(P, TensorNames.PREV_EMBED);
        }
        return select(keys);
    }

    /** Segment length of the token shift; 0 or less means the model config's {@code segment_size}. */
    public int getSegmentSize() { return segmentSize; }
    public void setSegmentSize(int segmentSize) { this.segmentSize = segmentSize; }

    @Override
    public boolean equals(Object o) {
        return super.equals(o) && o instanceof InfiniEmbedding e && e.segmentSize == segmentSize;
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + segmentSize;
    }


    @Override
    InfiniLayerImpl<?> newImpl(NeuralNetConfiguration conf, DataType dtype) {
        return new Impl(conf, dtype);
    }

    static final class Impl extends InfiniLayerImpl<InfiniEmbedding> {
        Impl(NeuralNetConfiguration conf, DataType dtype) {
            super(conf, dtype);
        }

        private boolean fast() {
            return lc().kernelFor(dataType) == SegmentKernel.FAST;
        }

        private boolean shift() {
            return model().tokenShift();
        }

        private int segment() {
            return lc().getSegmentSize() > 0 ? lc().getSegmentSize() : model().segmentSize();
        }

        private SameDiff graphFor(int b, int t, boolean training) {
            InfiniConfig c = model();
            long n = (long) b * t;
            return graph((training ? "train" : "infer") + b + "x" + t, sd -> {
                SDVariable ids = sd.placeHolder("ids", DataType.INT32, n);
                SDVariable x = DecoderBlocks.embed(sd, c, "", ids, training, dataType);
                if (c.tokenShift()) {
                    x = x.add("embed_shifted", DecoderBlocks.previousTokens(sd, c, "", ids, b, t, segment(), training, dataType));
                }
                sd.identity("out", x);
                if (training) {
                    SDVariable g = sd.placeHolder("out.grad", dataType, n, c.hiddenSize());
                    sd.setLossVariables(sd.getVariable("out").mul(g).sum("loss"));
                }
            });
        }

        private INDArray flatIds() {
            if (input.rank() != 2) {
                throw new IllegalArgumentException("token ids must be [batch, time], got shape "
                        + java.util.Arrays.toString(input.shape()));
            }
            INDArray ids = input.castTo(DataType.INT32).reshape(input.length());
            long max = ids.length() == 0 ? 0 : ids.maxNumber().longValue(), min = ids.length() == 0 ? 0 : ids.minNumber().longValue();
            if (min < 0 || max >= model().vocabSize()) {
                throw new IllegalArgumentException("token id " + (min < 0 ? min : max) + " is outside the vocabulary [0, "
                        + model().vocabSize() + ")");
            }
            return ids;
        }

        @Override
        public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
            assertInputSet(false);
            INDArray x;
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                INDArray ids = flatIds();
                if (fast()) {           // x [B*T, D], a new array
                    x = new FastEmbedding(model(), dataType).forward(getParam(E), shift() ? getParam(P) : null,
                            ids.toIntVector(), (int) input.size(1), segment());
                } else {
                    x = graphFor((int) input.size(0), (int) input.size(1), training).output(Map.of("ids", ids), "out").get("out");
                }
                x = x.reshape(input.size(0), input.size(1), model().hiddenSize());
            }
            return out(mgr, ArrayType.ACTIVATIONS, x);
        }

        @Override
        public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
            assertInputSet(true);
            Gradient g;
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                INDArray ids = flatIds();
                INDArray eps = epsilon.castTo(dataType).reshape(ids.length(), model().hiddenSize());
                Map<String, INDArray> grads;
                if (fast()) {           // dE (and dP) [V, D]
                    grads = new FastEmbedding(model(), dataType).backward(ids.toIntVector(), eps, (int) input.size(1),
                            segment());
                } else {
                    grads = gradients(graphFor((int) input.size(0), (int) input.size(1), true),
                            Map.of("ids", ids, "out.grad", eps), List.of(),
                            shift() ? List.of(TensorNames.EMBED, TensorNames.PREV_EMBED) : List.of(TensorNames.EMBED));
                }
                g = gradient(grads, 1.0);
                TiedHead.collect(gradientView(E));
            }
            return new Pair<>(g, null); // no gradient with respect to token ids
        }
    }
}
