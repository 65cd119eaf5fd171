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
 * {@code E} and this one receive the same summed gradient (see {@link TiedHead}).
 *
 * <p>The {@code kernel}: {@link SegmentKernel#FAST}, the fast kernel's {@link FastEmbedding} (the same code as
 * {@code FastSegment}); {@link SegmentKernel#SAMEDIFF}, the layer graph; unset (null),
 * {@link SegmentKernel#defaultFor} the network's dtype.
 */
public class InfiniEmbedding extends InfiniLayerConf {
    public static final String E = "E";


    public InfiniEmbedding() {
    }

    public InfiniEmbedding(String name, InfiniConfig config, IUpdater updater, IUpdater gateUpdater, double weightDecay,
                           double initStd, double gateInit) {
        super(name, config, updater, gateUpdater, weightDecay, initStd, gateInit);
    }

    @Override
    public LinkedHashMap<String, TensorNames.Spec> params() {
        return select(Map.of(E, TensorNames.EMBED));
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

        private SameDiff graphFor(long n, boolean training) {
            InfiniConfig c = model();
            return graph((training ? "train" : "infer") + n, sd -> {
                SDVariable ids = sd.placeHolder("ids", DataType.INT32, n);
                SDVariable x = DecoderBlocks.embed(sd, c, "", ids, training, dataType);
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
                    x = new FastEmbedding(model(), dataType).forward(getParam(E), ids.toIntVector());
                } else {
                    x = graphFor(ids.length(), training).output(Map.of("ids", ids), "out").get("out");
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
                if (fast()) {           // dE [V, D]
                    grads = Map.of(TensorNames.EMBED, new FastEmbedding(model(), dataType).backward(ids.toIntVector(), eps));
                } else {
                    grads = gradients(graphFor(ids.length(), true), Map.of("ids", ids, "out.grad", eps), List.of(),
                            List.of(TensorNames.EMBED));
                }
                g = gradient(grads, 1.0);
                TiedHead.collect(gradientView(E));
            }
            return new Pair<>(g, null); // no gradient with respect to token ids
        }
    }
}
