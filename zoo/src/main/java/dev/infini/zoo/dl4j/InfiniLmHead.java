package dev.infini.zoo.dl4j;

import dev.infini.samediff.DecoderBlocks;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.fast.FastHead;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.train.OneHotLabels;
import org.deeplearning4j.nn.api.layers.IOutputLayer;
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
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;

import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Final RMSNorm, LM head and next-token loss as a DL4J output layer ({@link DecoderBlocks#lmHead},
 * {@link DecoderBlocks#nll}). In: hidden states {@code [B, T, D]}; labels: next-token ids {@code [B, T]};
 * label mask {@code [B, T]} (1 where a label counts). Output: logits {@code [B, T, V]}. Score: mean
 * negative log-likelihood over the counted labels.
 *
 * <p>Parameters: {@code norm} = {@code model.norm.weight}; {@code W} = {@code lm_head.weight}, or with a
 * tied head a copy of {@code model.embed_tokens.weight} kept equal to the embedding layer's
 * ({@link TiedHead}).
 *
 * <p>The {@code kernel}: {@link SegmentKernel#FAST}, the fast kernel's {@link FastHead} (the same code as
 * {@code FastSegment}); {@link SegmentKernel#SAMEDIFF}, the layer graph; unset (null),
 * {@link SegmentKernel#defaultFor} the network's dtype. The score is the same either way.
 */
public class InfiniLmHead extends InfiniLayerConf {
    public static final String NORM = "norm";
    public static final String W = "W";


    public InfiniLmHead() {
    }

    public InfiniLmHead(String name, InfiniConfig config, IUpdater updater, IUpdater gateUpdater, double weightDecay,
                        double initStd, double gateInit) {
        super(name, config, updater, gateUpdater, weightDecay, initStd, gateInit);
    }

    @Override
    public LinkedHashMap<String, TensorNames.Spec> params() {
        Map<String, String> keys = new LinkedHashMap<>();
        keys.put(NORM, TensorNames.FINAL_NORM);
        keys.put(W, infiniConfig().tieWordEmbeddings() ? TensorNames.EMBED : TensorNames.LM_HEAD);
        return select(keys);
    }


    @Override
    InfiniLayerImpl<?> newImpl(NeuralNetConfiguration conf, DataType dtype) {
        return new Impl(conf, dtype);
    }

    @Override
    public org.deeplearning4j.nn.conf.inputs.InputType getOutputType(int layerIndex,
                                                                     org.deeplearning4j.nn.conf.inputs.InputType in) {
        return org.deeplearning4j.nn.conf.inputs.InputType.recurrent(infiniConfig().vocabSize());
    }

    static final class Impl extends InfiniLayerImpl<InfiniLmHead> implements IOutputLayer {
        private INDArray labels;
        private double score;
        private boolean scoreValid;
        /** Fast heads of this layer instance by row count {@code B*T} (at most 4 kept; never shared). */
        private final Map<Long, FastHead> heads = new HashMap<>();

        Impl(NeuralNetConfiguration conf, DataType dtype) {
            super(conf, dtype);
        }

        private boolean fast() {
            return lc().kernelFor(dataType) == SegmentKernel.FAST;
        }

        private FastHead head(long n) {
            if (!heads.containsKey(n) && heads.size() >= 4) {
                heads.clear();
            }
            return heads.computeIfAbsent(n, k -> new FastHead(model(), Math.toIntExact(k), dataType));
        }

        /** Label ids {@code [B*T]}, checked against the input's shape. */
        private int[] labelIds() {
            long b = input.size(0), t = input.size(1);
            if (labels == null) {
                throw new IllegalStateException(layerId() + ": no labels set");
            }
            if (labels.length() != b * t) {
                throw new IllegalArgumentException("labels must be [batch, time] = [" + b + ", " + t + "], got "
                        + java.util.Arrays.toString(labels.shape()));
            }
            return labels.castTo(DataType.INT32).reshape(b * t).toIntVector();
        }

        /** Label weights {@code [B*T]}: the label mask (or ones), zero outside example {@code onlyExample} if >= 0. */
        private double[] labelWeights(int onlyExample) {
            long b = input.size(0), t = input.size(1);
            double[] w = maskArray == null ? null : maskArray.castTo(DataType.FLOAT).reshape(b * t).toDoubleVector();
            double[] out = new double[(int) (b * t)];
            for (int r = 0; r < out.length; r++) {
                out[r] = onlyExample >= 0 && r / t != onlyExample ? 0 : w == null ? 1 : w[r];
            }
            return out;
        }

        /** Summed NLL of the rows weighted by {@link #labelWeights}({@code onlyExample}), on the fast kernel. */
        private double fastNllSum(INDArray x, int onlyExample) {
            return head(x.size(0)).nllSum(x, getParam(NORM), getParam(W), labelIds(), labelWeights(onlyExample));
        }

        /** The fast kernel's backward: score, gradient views (scaled by 1/count) and {@code dx [B, T, D]}. */
        private Pair<Gradient, INDArray> fastBackward(INDArray x) {
            FastHead.Gradients gr = head(x.size(0)).nllBackward(x, getParam(NORM), getParam(W), labelIds(),
                    labelWeights(-1));
            double n = Math.max(counted(), 1);
            score = gr.nllSum() / n;
            scoreValid = true;
            Map<String, INDArray> byName = new HashMap<>();
            byName.put(TensorNames.FINAL_NORM, gr.dNorm());
            byName.put(model().tieWordEmbeddings() ? TensorNames.EMBED : TensorNames.LM_HEAD, gr.dHead());
            return new Pair<>(gradient(byName, 1.0 / n), gr.dx().divi(n).reshape(input.shape()));
        }

        private SameDiff graphFor(long n) {
            InfiniConfig c = model();
            return graph("head" + n, sd -> {
                SDVariable x = sd.placeHolder("x", dataType, n, c.hiddenSize());
                SDVariable logits = DecoderBlocks.lmHead(sd, c, "", x, n);
                sd.identity("logits", logits);
                SDVariable lab = sd.placeHolder("labels", dataType, n, c.vocabSize());
                DecoderBlocks.nll(sd, "nll", logits, lab);
                sd.setLossVariables("nll");
            }, "x");
        }

        private INDArray flatInput() {
            if (input.rank() != 3 || input.size(2) != model().hiddenSize()) {
                throw new IllegalArgumentException(layerId() + ": input must be [batch, time, " + model().hiddenSize()
                        + "], got " + java.util.Arrays.toString(input.shape()));
            }
            return input.castTo(dataType).reshape(input.size(0) * input.size(1), input.size(2));
        }

        /** One-hot label rows {@code [B*T, V]} weighted by the label mask, all-zero where nothing counts. */
        private INDArray oneHot(int onlyExample) {
            long b = input.size(0), t = input.size(1);
            int v = model().vocabSize();
            if (labels == null) {
                throw new IllegalStateException(layerId() + ": no labels set");
            }
            if (labels.length() != b * t) {
                throw new IllegalArgumentException("labels must be [batch, time] = [" + b + ", " + t + "], got "
                        + java.util.Arrays.toString(labels.shape()));
            }
            int[] ids = labels.castTo(DataType.INT32).reshape(b * t).toIntVector();
            float[] w = maskArray == null ? null : maskArray.castTo(DataType.FLOAT).reshape(b * t).toFloatVector();
            if (onlyExample >= 0) {
                float[] one = new float[ids.length];
                for (int r = 0; r < ids.length; r++) {
                    one[r] = r / t != onlyExample ? 0f : w == null ? 1f : w[r];
                }
                w = one;
            }
            return OneHotLabels.of(ids, w, v, dataType);
        }

        private double counted() {
            return maskArray == null ? labels.length() : maskArray.castTo(DataType.DOUBLE).sumNumber().doubleValue();
        }

        @Override
        public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
            assertInputSet(false);
            INDArray logits;
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                INDArray x = flatInput();
                logits = (fast() ? head(x.size(0)).logits(x, getParam(NORM), getParam(W))
                        : graphFor(x.size(0)).output(Map.of("x", x), "logits").get("logits"))
                        .reshape(input.size(0), input.size(1), model().vocabSize());
            }
            return out(mgr, ArrayType.ACTIVATIONS, logits);
        }

        @Override
        public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
            assertInputSet(true);
            Gradient g;
            INDArray dx;
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                INDArray x = flatInput();
                if (fast()) {
                    Pair<Gradient, INDArray> p = fastBackward(x);
                    if (model().tieWordEmbeddings()) {
                        TiedHead.offer(gradientView(W));
                    }
                    return new Pair<>(p.getFirst(), out(mgr, ArrayType.ACTIVATION_GRAD, p.getSecond()));
                }
                SameDiff sd = graphFor(x.size(0));
                Map<String, INDArray> ph = new HashMap<>();
                ph.put("x", x);
                ph.put("labels", oneHot(-1));
                List<String> wrt = paramNames();
                wrt.add("x");
                // One pass: the loss and the gradients, that of the placeholder x included (GraphRuntime).
                Map<String, INDArray> grads = gradients(sd, ph, List.of("nll"), wrt);
                double n = Math.max(counted(), 1);
                score = grads.get("nll").getDouble(0) / n;
                scoreValid = true;
                g = gradient(grads, 1.0 / n);
                dx = grads.get("x").div(n).reshape(input.shape());
                if (model().tieWordEmbeddings()) {
                    TiedHead.offer(gradientView(W));
                }
            }
            return new Pair<>(g, out(mgr, ArrayType.ACTIVATION_GRAD, dx));
        }

        @Override
        public boolean needsLabels() {
            return true;
        }

        @Override
        public void setLabels(INDArray labels) {
            this.labels = labels;
            this.scoreValid = false;
        }

        @Override
        public INDArray getLabels() {
            return labels;
        }

        @Override
        public void setInput(INDArray input, LayerWorkspaceMgr mgr) {
            super.setInput(input, mgr);
            scoreValid = false;
        }

        @Override
        public double computeScore(double fullNetRegTerm, boolean training, LayerWorkspaceMgr mgr) {
            if (!scoreValid) {
                try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                    INDArray x = flatInput();
                    score = fast() ? fastNllSum(x, -1) / Math.max(counted(), 1) : graphFor(x.size(0)).output(Map.of("x", x, "labels", oneHot(-1)), "nll").get("nll").getDouble(0)
                            / Math.max(counted(), 1);
                    scoreValid = true;
                }
            }
            return score + fullNetRegTerm;
        }

        @Override
        public INDArray computeScoreForExamples(double fullNetRegTerm, LayerWorkspaceMgr mgr) {
            long b = input.size(0), t = input.size(1);
            INDArray out = Nd4j.zeros(DataType.DOUBLE, b, 1);
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                INDArray x = flatInput();
                SameDiff sd = fast() ? null : graphFor(x.size(0));
                float[] w = maskArray == null ? null : maskArray.castTo(DataType.FLOAT).reshape(b * t).toFloatVector();
                for (int e = 0; e < b; e++) {
                    double cnt = 0;
                    for (long r = e * t; r < (e + 1) * t; r++) {
                        cnt += w == null ? 1 : w[(int) r];
                    }
                    double nll = sd == null ? fastNllSum(x, e) : sd.output(Map.of("x", x, "labels", oneHot(e)), "nll").get("nll").getDouble(0);
                    out.putScalar(e, 0, nll / Math.max(cnt, 1) + fullNetRegTerm);
                }
            }
            return out;
        }

        @Override
        public double score() {
            return score;
        }

        @Override
        public double f1Score(DataSet data) {
            throw new UnsupportedOperationException("f1 score is not defined for a language model");
        }

        @Override
        public double f1Score(INDArray examples, INDArray labels) {
            throw new UnsupportedOperationException("f1 score is not defined for a language model");
        }

        @Override
        public int numLabels() {
            return model().vocabSize();
        }

        @Override
        public void fit(DataSetIterator iter) {
            throw new UnsupportedOperationException("fit the ComputationGraph");
        }

        @Override
        public int[] predict(INDArray examples) {
            throw new UnsupportedOperationException("use ComputationGraph.output for logits");
        }

        @Override
        public List<String> predict(DataSet dataSet) {
            throw new UnsupportedOperationException("use ComputationGraph.output for logits");
        }

        @Override
        public void fit(INDArray examples, INDArray labels) {
            throw new UnsupportedOperationException("fit the ComputationGraph");
        }

        @Override
        public void fit(DataSet data) {
            throw new UnsupportedOperationException("fit the ComputationGraph");
        }

        @Override
        public void fit(INDArray examples, int[] labels) {
            throw new UnsupportedOperationException("fit the ComputationGraph");
        }
    }
}
