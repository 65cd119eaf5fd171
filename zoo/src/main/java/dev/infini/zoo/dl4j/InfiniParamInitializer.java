package dev.infini.zoo.dl4j;

import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.TensorNames;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Cuts a layer's flat parameter (or gradient) view into its tensors, each a C-order view with the
 * Hugging Face shape, and initialises them like {@code InfiniModel.random}: embeddings and linear
 * weights normal with std {@code initStd}, norms at identity, gates at {@code gateInit}.
 */
public final class InfiniParamInitializer implements ParamInitializer {
    public static final InfiniParamInitializer INSTANCE = new InfiniParamInitializer();

    private InfiniParamInitializer() {
    }

    private static InfiniLayerConf conf(Layer layer) {
        return (InfiniLayerConf) layer;
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        long n = 0;
        for (TensorNames.Spec s : conf(layer).params().values()) {
            n += length(s.shape());
        }
        return n;
    }

    static long length(long[] shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        return new ArrayList<>(conf(layer).params().keySet());
    }

    @Override
    public List<String> weightKeys(Layer layer) {
        return paramKeys(layer);
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        return Collections.emptyList();
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return conf(layer).params().containsKey(key);
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return false;
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        InfiniLayerConf lc = conf(conf.getLayer());
        Map<String, INDArray> out = views(lc, paramsView);
        if (initializeParams) {
            try (org.nd4j.linalg.api.memory.MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                initialise(lc, out);
            }
        }
        return out;
    }

    private static void initialise(InfiniLayerConf lc, Map<String, INDArray> out) {
        {
            boolean gemma = lc.infiniConfig().family() == ModelFamily.GEMMA;
            for (Map.Entry<String, INDArray> e : out.entrySet()) {
                INDArray w = e.getValue();
                switch (lc.spec(e.getKey()).kind()) {
                    case EMBEDDING, LINEAR -> w.assign(Nd4j.randn(w.dataType(), w.shape()).muli(lc.getInitStd()));
                    case NORM -> w.assign(gemma ? 0.0 : 1.0);
                    case GATE -> w.assign(lc.getGateInit());
                }
            }
        }
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        return views(conf(conf.getLayer()), gradientView);
    }

    /** The tensors of a flat view, in key order; each is a view sharing the flat array's storage. */
    static Map<String, INDArray> views(InfiniLayerConf lc, INDArray flatView) {
        INDArray flat = flatView.rank() == 1 ? flatView : flatView.reshape(flatView.length());
        Map<String, INDArray> out = new LinkedHashMap<>();
        long off = 0;
        for (Map.Entry<String, TensorNames.Spec> e : lc.params().entrySet()) {
            long len = length(e.getValue().shape());
            out.put(e.getKey(), flat.get(NDArrayIndex.interval(off, off + len)).reshape('c', e.getValue().shape()));
            off += len;
        }
        if (off != flat.length()) {
            throw new IllegalStateException("layer " + lc.getLayerName() + ": parameter view has " + flat.length()
                    + " values, its tensors " + off);
        }
        return out;
    }
}
