package dev.infini.zoo.dl4j;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.TensorNames;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Configuration shared by the Deeplearning4j layers of an Infini-attention decoder. Every layer carries
 * the model's {@link InfiniConfig} (as its {@code config.json} text, so the layer survives DL4J's JSON
 * round trip, which ParallelWrapper and Spark rely on) and names its parameters with short keys (DL4J
 * joins layer and key with '_', so keys cannot hold the Hugging Face names); {@link #params()} maps
 * each key to its Hugging Face tensor.
 *
 * <p>Optimiser rules of the spec: weight decay only on embeddings and linear weights; gates take their
 * own updater (a larger learning rate) when one is set.
 */
public abstract class InfiniLayerConf extends Layer {
    private String modelConfig;
    private IUpdater updater;
    private IUpdater gateUpdater;
    private double weightDecay;
    private double initStd = 0.02;
    private double gateInit;
    /** What computes the layer: null (the default) means {@link SegmentKernel#defaultFor} the network's dtype. */
    private SegmentKernel kernel;
    private transient InfiniConfig parsed;

    protected InfiniLayerConf() {
    }

    protected InfiniLayerConf(String name, InfiniConfig config, IUpdater updater, IUpdater gateUpdater,
                              double weightDecay, double initStd, double gateInit) {
        setLayerName(name);
        this.modelConfig = config.toJson().toString();
        this.updater = updater;
        this.gateUpdater = gateUpdater;
        this.weightDecay = weightDecay;
        this.initStd = initStd;
        this.gateInit = gateInit;
    }

    /** The model's config (parsed once from {@link #getModelConfig()}). */
    public InfiniConfig infiniConfig() {
        if (parsed == null) {
            parsed = InfiniConfig.parse(modelConfig);
        }
        return parsed;
    }

    /** Parameter key to Hugging Face tensor (name, kind, shape), in the order of the flat parameter view. */
    public abstract LinkedHashMap<String, TensorNames.Spec> params();

    /** The runtime layer of this configuration. */
    abstract InfiniLayerImpl<?> newImpl(org.deeplearning4j.nn.conf.NeuralNetConfiguration conf,
                                        org.nd4j.linalg.api.buffer.DataType dtype);

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(org.deeplearning4j.nn.conf.NeuralNetConfiguration conf,
                                                       java.util.Collection<org.deeplearning4j.optimize.api.TrainingListener> listeners,
                                                       int index, org.nd4j.linalg.api.ndarray.INDArray view, boolean init,
                                                       org.nd4j.linalg.api.buffer.DataType dtype) {
        InfiniLayerImpl<?> l = newImpl(conf, dtype);
        l.setListeners(listeners);
        l.setIndex(index);
        initializer().init(conf, view, init);
        l.setParamsViewArray(view);
        l.setConf(conf);
        return l;
    }

    /** The Hugging Face tensor of one parameter key. */
    public TensorNames.Spec spec(String key) {
        TensorNames.Spec s = params().get(key);
        if (s == null) {
            throw new IllegalArgumentException("layer " + getLayerName() + " has no parameter '" + key + "' (has "
                    + params().keySet() + ")");
        }
        return s;
    }

    /** Helper for subclasses: the specs of {@link TensorNames#all} under the given keys. */
    protected LinkedHashMap<String, TensorNames.Spec> select(Map<String, String> keyToName) {
        Map<String, TensorNames.Spec> byName = new LinkedHashMap<>();
        for (TensorNames.Spec s : TensorNames.all(infiniConfig())) {
            byName.put(s.name(), s);
        }
        LinkedHashMap<String, TensorNames.Spec> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : keyToName.entrySet()) {
            TensorNames.Spec s = byName.get(e.getValue());
            if (s == null) {
                throw new IllegalStateException("no tensor " + e.getValue() + " in " + infiniConfig());
            }
            out.put(e.getKey(), s);
        }
        return out;
    }

    @Override
    public ParamInitializer initializer() {
        return InfiniParamInitializer.INSTANCE;
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return InputType.recurrent(infiniConfig().hiddenSize());
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        // Sizes come from the model config.
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        return null;
    }

    @Override
    public List<Regularization> getRegularizationByParam(String key) {
        List<Regularization> out = new ArrayList<>();
        TensorNames.Kind kind = spec(key).kind();
        if (weightDecay > 0 && (kind == TensorNames.Kind.LINEAR || kind == TensorNames.Kind.EMBEDDING)) {
            out.add(new WeightDecay(weightDecay, true));
        }
        return out;
    }

    @Override
    public boolean isPretrainParam(String key) {
        return false;
    }

    @Override
    public IUpdater getUpdaterByParam(String key) {
        if (spec(key).kind() == TensorNames.Kind.GATE && gateUpdater != null) {
            return gateUpdater;
        }
        return updater;
    }

    /** Gradient clipping is the training loop's business (GraphTraining), not the layer's. */
    @Override
    public org.deeplearning4j.nn.conf.GradientNormalization getGradientNormalization() {
        return org.deeplearning4j.nn.conf.GradientNormalization.None;
    }

    @Override
    public double getGradientNormalizationThreshold() {
        return 1.0;
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        long n = InfiniParamInitializer.INSTANCE.numParams(this);
        return new LayerMemoryReport.Builder(getLayerName(), getClass(), inputType, getOutputType(-1, inputType))
                .standardMemory(n, 2 * n).workingMemory(0, 0, 0, 0).cacheMemory(0, 0).build();
    }

    @Override
    public InfiniLayerConf clone() {
        InfiniLayerConf c = (InfiniLayerConf) super.clone();
        c.parsed = null;
        return c;
    }

    // Bean accessors: DL4J's JSON (de)serialisation goes through them.
    public String getModelConfig() { return modelConfig; }
    public void setModelConfig(String modelConfig) { this.modelConfig = modelConfig; this.parsed = null; }
    public IUpdater getUpdater() { return updater; }
    public void setUpdater(IUpdater updater) { this.updater = updater; }
    public IUpdater getGateUpdater() { return gateUpdater; }
    public void setGateUpdater(IUpdater gateUpdater) { this.gateUpdater = gateUpdater; }
    public double getWeightDecay() { return weightDecay; }
    public void setWeightDecay(double weightDecay) { this.weightDecay = weightDecay; }
    public double getInitStd() { return initStd; }
    public void setInitStd(double initStd) { this.initStd = initStd; }
    public double getGateInit() { return gateInit; }
    public void setGateInit(double gateInit) { this.gateInit = gateInit; }

    /** The kernel; null (the default) means {@link SegmentKernel#defaultFor}. */
    public SegmentKernel getKernel() { return kernel; }
    public void setKernel(SegmentKernel kernel) { this.kernel = kernel; }

    /**
     * The kernel that runs here for networks of {@code dtype}: {@link SegmentKernel#FAST}, the core's hand-written
     * code, or {@link SegmentKernel#SAMEDIFF}, the layer's SameDiff graph (checked: FAST needs the CPU backend and
     * float/double).
     */
    public SegmentKernel kernelFor(org.nd4j.linalg.api.buffer.DataType dtype) {
        SegmentKernel k = kernel != null ? kernel : SegmentKernel.defaultFor(dtype);
        k.check(dtype);
        return k;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof InfiniLayerConf other) || o.getClass() != getClass()) {
            return false;
        }
        return super.equals(o) && java.util.Objects.equals(modelConfig, other.modelConfig)
                && java.util.Objects.equals(updater, other.updater) && java.util.Objects.equals(gateUpdater, other.gateUpdater)
                && weightDecay == other.weightDecay && initStd == other.initStd && gateInit == other.gateInit
                && kernel == other.kernel;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(super.hashCode(), modelConfig, updater, gateUpdater, weightDecay, initStd, gateInit,
                kernel);
    }
}
