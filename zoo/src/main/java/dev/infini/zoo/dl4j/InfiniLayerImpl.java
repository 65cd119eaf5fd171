package dev.infini.zoo.dl4j;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.runtime.GraphRuntime;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.array.SingleThreadArrayHolder;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What the Infini layers share: parameters as views of the network's flat parameter and gradient
 * arrays (by key), and SameDiff graphs built once per input shape whose variables are those very views
 * under their Hugging Face names, so the graphs always see the current weights.
 */
abstract class InfiniLayerImpl<C extends InfiniLayerConf> extends AbstractLayer<C> {
    private INDArray paramsView;
    private INDArray gradientsView;
    private Map<String, INDArray> params;
    private Map<String, INDArray> grads;
    private final Map<String, SameDiff> graphs = new HashMap<>();
    /** Owns the gradient functions of this layer's graphs (see {@link GraphRuntime}). */
    private final GraphRuntime runtime = new GraphRuntime();

    InfiniLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @SuppressWarnings("unchecked")
    C lc() {
        return (C) conf.getLayer();
    }

    InfiniConfig model() {
        return lc().infiniConfig();
    }

    /**
     * The graph for {@code key}, built by {@code builder} on a SameDiff that already holds this layer's weights;
     * {@link #gradients} also computes the gradients of the placeholders {@code gradientPlaceholders}.
     */
    SameDiff graph(String key, java.util.function.Consumer<SameDiff> builder, String... gradientPlaceholders) {
        SameDiff sd = graphs.get(key);
        if (sd == null) {
            sd = SameDiff.create();
            // Single-thread holders keep the parameter views themselves (no per-thread copies).
            sd.setArrayHolders(new SingleThreadArrayHolder(), new SingleThreadArrayHolder(), false);
            for (Map.Entry<String, TensorNames.Spec> e : lc().params().entrySet()) {
                sd.var(e.getValue().name(), params.get(e.getKey()));
            }
            builder.accept(sd);
            runtime.register(sd, gradientPlaceholders);
            graphs.put(key, sd);
        }
        return sd;
    }

    /**
     * Outputs and gradients of a graph's loss in one pass of its cached gradient function
     * ({@link GraphRuntime#outputsAndGradients}); never {@code calculateGradients}, which turns the cache off
     * on every call.
     */
    Map<String, INDArray> gradients(SameDiff sd, Map<String, INDArray> placeholders, List<String> outputs,
                                    List<String> wrt) {
        return runtime.outputsAndGradients(sd, placeholders, outputs, wrt);
    }

    /** Hugging Face names of this layer's parameters, in the order of {@link InfiniLayerConf#params}. */
    List<String> paramNames() {
        List<String> names = new java.util.ArrayList<>();
        lc().params().values().forEach(spec -> names.add(spec.name()));
        return names;
    }

    private void forgetGraphs() {
        graphs.clear();
        runtime.forgetAll();
    }

    /** Writes the SameDiff gradients (by Hugging Face name) into this layer's gradient views, times {@code scale}. */
    Gradient gradient(Map<String, INDArray> byName, double scale) {
        Gradient g = new DefaultGradient(gradientsView);
        for (Map.Entry<String, TensorNames.Spec> e : lc().params().entrySet()) {
            INDArray view = grads.get(e.getKey());
            INDArray sdGrad = byName.get(e.getValue().name());
            if (sdGrad == null) {
                view.assign(0);
            } else {
                view.assign(sdGrad);
                if (scale != 1.0) {
                    view.muli(scale);
                }
            }
            g.gradientForVariable().put(e.getKey(), view);
        }
        return g;
    }

    INDArray gradientView(String key) {
        return grads.get(key);
    }

    static INDArray out(LayerWorkspaceMgr mgr, ArrayType type, INDArray a) {
        return mgr.isScopedOut(type) ? (a.isAttached() ? a.detach() : a) : mgr.dup(type, a);
    }

    @Override
    public Layer clone() {
        throw new UnsupportedOperationException("clone the ComputationGraph instead");
    }

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    @Override
    public void clearNoiseWeightParams() {
    }

    @Override
    public Type type() {
        return Type.FEED_FORWARD;
    }

    @Override
    public INDArray params() {
        return paramsView;
    }

    @Override
    public long numParams() {
        return paramsView == null ? 0 : paramsView.length();
    }

    @Override
    public long numParams(boolean backwards) {
        return numParams();
    }

    @Override
    public INDArray getParam(String key) {
        return params.get(key);
    }

    @Override
    public void setParam(String key, INDArray val) {
        INDArray cur = params.get(key);
        if (cur == null) {
            throw new IllegalArgumentException("unknown parameter " + key + " (has " + params.keySet() + ")");
        }
        if (!Arrays.equals(cur.shape(), val.shape())) {
            throw new IllegalArgumentException("parameter " + key + " has shape " + Arrays.toString(cur.shape())
                    + ", cannot set " + Arrays.toString(val.shape()));
        }
        cur.assign(val);
    }

    @Override
    public void setParams(INDArray p) {
        if (p.length() != paramsView.length()) {
            throw new IllegalArgumentException("layer has " + paramsView.length() + " parameters, got " + p.length());
        }
        paramsView.assign(p.reshape(paramsView.shape()));
    }

    @Override
    protected void setParams(INDArray p, char order) {
        setParams(p);
    }

    @Override
    public void setParamsViewArray(INDArray view) {
        if (paramsView != view) {
            this.paramsView = view;
            this.params = InfiniParamInitializer.views(lc(), view);
            forgetGraphs();
        }
    }

    @Override
    public INDArray getGradientsViewArray() {
        return gradientsView;
    }

    @Override
    public void setBackpropGradientsViewArray(INDArray view) {
        this.gradientsView = view;
        this.grads = InfiniParamInitializer.views(lc(), view);
    }

    @Override
    public void setParamTable(Map<String, INDArray> table) {
        if (params == null) {
            params = new java.util.LinkedHashMap<>(table);
            forgetGraphs();
        } else {
            table.forEach(this::setParam);
        }
    }

    @Override
    public Map<String, INDArray> paramTable() {
        return paramTable(false);
    }

    @Override
    public Map<String, INDArray> paramTable(boolean backpropOnly) {
        return params == null ? Collections.emptyMap() : Collections.unmodifiableMap(params);
    }

    @Override
    public Gradient gradient() {
        Gradient g = new DefaultGradient(gradientsView);
        grads.forEach((k, v) -> g.gradientForVariable().put(k, v));
        return g;
    }
}
