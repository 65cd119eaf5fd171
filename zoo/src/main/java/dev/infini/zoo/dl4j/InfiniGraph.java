package dev.infini.zoo.dl4j;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.TensorNames;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@link ComputationGraph} form of an Infini-attention decoder:
 * {@code ids -> embed -> layer0 .. layer{L-1} -> head} ({@link InfiniEmbedding}, {@link InfiniDecoderBlock},
 * {@link InfiniLmHead}). Input: token ids {@code [B, T]} with an optional feature mask {@code [B, T]};
 * labels: next-token ids {@code [B, T]} with a label mask; output: logits {@code [B, T, V]}. It trains with
 * {@code fit} on a {@code DataSetIterator} such as the datasets module's {@code TokenBlockIterator}.
 *
 * <p>Weights move between this form and {@link InfiniModel} (the SameDiff form) by Hugging Face name:
 * {@link #fromModel}, {@link #copyWeights}, {@link #toModel}.
 */
public final class InfiniGraph {
    public static final String INPUT = "ids";
    public static final String EMBED = "embed";
    public static final String HEAD = "head";

    private InfiniGraph() {
    }

    public static String layerName(int i) {
        return "layer" + i;
    }

    /** Training choices of the graph form. */
    public static final class Options {
        private IUpdater updater = new Adam(1e-3);
        private IUpdater gateUpdater;
        private double weightDecay;
        private boolean checkpointing = true;
        private int segmentSize;
        private long seed = 42;
        private DataType dtype = DataType.FLOAT;
        private double initStd = 0.02;
        private double gateInit;
        private SegmentKernel kernel;

        /** Updater of all weights (default Adam 1e-3). */
        public Options updater(IUpdater u) { this.updater = u; return this; }
        /** Updater of the gates (spec: a larger learning rate); null means {@link #updater}. */
        public Options gateUpdater(IUpdater u) { this.gateUpdater = u; return this; }
        /** Decoupled weight decay on embeddings and linear weights (none on norms and gates). */
        public Options weightDecay(double wd) { this.weightDecay = wd; return this; }
        /** Per-segment gradient checkpointing inside each decoder layer (default on). */
        public Options checkpointing(boolean on) { this.checkpointing = on; return this; }
        /** Segment length inside the layers; 0 = the config's {@code segment_size}. */
        public Options segmentSize(int s) { this.segmentSize = s; return this; }
        public Options seed(long s) { this.seed = s; return this; }
        /** Network precision (FLOAT; DOUBLE for checks). */
        public Options dtype(DataType d) { this.dtype = d; return this; }
        public Options initStd(double s) { this.initStd = s; return this; }
        public Options gateInit(double g) { this.gateInit = g; return this; }
        /**
         * What computes the embedding, each decoder layer's segments and the head ({@link InfiniDecoderBlock#getKernel}); null (default):
         * {@link SegmentKernel#defaultFor} the dtype, FAST on the CPU backend.
         */
        public Options kernel(SegmentKernel k) { this.kernel = k; return this; }
        public SegmentKernel kernel() { return kernel; }

        public boolean checkpointing() { return checkpointing; }
        public DataType dtype() { return dtype; }
    }

    /** The graph configuration (JSON-serialisable, so ParallelWrapper and Spark can ship it). */
    public static ComputationGraphConfiguration configuration(InfiniConfig c, Options o) {
        ComputationGraphConfiguration.GraphBuilder gb = new NeuralNetConfiguration.Builder()
                .seed(o.seed)
                .dataType(o.dtype)
                .updater(o.updater)
                // The layers run SameDiff outside DL4J workspaces and keep their own state between passes.
                .trainingWorkspaceMode(WorkspaceMode.NONE)
                .inferenceWorkspaceMode(WorkspaceMode.NONE)
                .graphBuilder()
                .addInputs(INPUT);
        InfiniEmbedding embedding = new InfiniEmbedding(EMBED, c, o.updater, o.gateUpdater, o.weightDecay, o.initStd, o.gateInit);
        embedding.setKernel(o.kernel);
        embedding.setSegmentSize(o.segmentSize);             // the token shift restarts where the blocks cut segments
        gb.addLayer(EMBED, embedding, INPUT);
        String prev = EMBED;
        for (int i = 0; i < c.numLayers(); i++) {
            InfiniDecoderBlock block = new InfiniDecoderBlock(layerName(i), c, i, o.segmentSize, o.checkpointing,
                    o.updater, o.gateUpdater, o.weightDecay, o.initStd, o.gateInit);
            block.setKernel(o.kernel);
            gb.addLayer(layerName(i), block, prev);
            prev = layerName(i);
        }
        InfiniLmHead head = new InfiniLmHead(HEAD, c, o.updater, o.gateUpdater, o.weightDecay, o.initStd, o.gateInit);
        head.setKernel(o.kernel);
        gb.addLayer(HEAD, head, prev);
        gb.setOutputs(HEAD);
        return gb.build();
    }

    /** A randomly initialised graph ({@code initStd}, norms at identity, gates at {@code gateInit}; tied copies equal). */
    public static ComputationGraph create(InfiniConfig c, Options o) {
        ComputationGraph g = new ComputationGraph(configuration(c, o));
        g.init();
        if (c.tieWordEmbeddings()) {
            g.getLayer(HEAD).getParam(InfiniLmHead.W).assign(g.getLayer(EMBED).getParam(InfiniEmbedding.E));
        }
        return g;
    }

    /** A graph holding the weights of a SameDiff-form model. */
    public static ComputationGraph fromModel(InfiniModel model, Options o) {
        ComputationGraph g = new ComputationGraph(configuration(model.config(), o.dtype(model.dtype())));
        g.init();
        copyWeights(model.weights(), g);
        return g;
    }

    /** Where each Hugging Face tensor lives in the graph: vertex name and parameter key (tied: both copies). */
    static Map<String, String[]> locations(ComputationGraph g) {
        Map<String, String[]> out = new LinkedHashMap<>();
        for (org.deeplearning4j.nn.api.Layer l : g.getLayers()) {
            if (l.conf().getLayer() instanceof InfiniLayerConf lc) {
                for (Map.Entry<String, TensorNames.Spec> e : lc.params().entrySet()) {
                    String name = e.getValue().name();
                    String[] loc = {lc.getLayerName(), e.getKey()};
                    if (out.containsKey(name)) {
                        String[] prev = out.get(name);
                        out.put(name, new String[] {prev[0], prev[1], loc[0], loc[1]});
                    } else {
                        out.put(name, loc);
                    }
                }
            }
        }
        return out;
    }

    /** Copies weights by Hugging Face name into the graph (every tensor the graph has must be given). */
    public static void copyWeights(Map<String, INDArray> weights, ComputationGraph g) {
        for (Map.Entry<String, String[]> e : locations(g).entrySet()) {
            INDArray w = weights.get(e.getKey());
            if (w == null) {
                throw new IllegalArgumentException("missing tensor " + e.getKey());
            }
            String[] loc = e.getValue();
            for (int k = 0; k < loc.length; k += 2) {
                INDArray p = g.getLayer(loc[k]).getParam(loc[k + 1]);
                if (!Arrays.equals(p.shape(), w.shape())) {
                    throw new IllegalArgumentException("tensor " + e.getKey() + " has shape " + Arrays.toString(w.shape())
                            + " but the graph expects " + Arrays.toString(p.shape()));
                }
                p.assign(w.castTo(p.dataType()));
            }
        }
    }

    /** The graph's weights by Hugging Face name (copies; a tied matrix from the embedding layer). */
    public static Map<String, INDArray> weights(ComputationGraph g) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (Map.Entry<String, String[]> e : locations(g).entrySet()) {
            out.put(e.getKey(), g.getLayer(e.getValue()[0]).getParam(e.getValue()[1]).dup());
        }
        return out;
    }

    /** The model config a graph was built for. */
    public static InfiniConfig config(ComputationGraph g) {
        return ((InfiniLayerConf) g.getLayer(EMBED).conf().getLayer()).infiniConfig();
    }

    /** The SameDiff form of a graph's current weights. */
    public static InfiniModel toModel(ComputationGraph g, DataType dtype) {
        return InfiniModel.of(config(g), weights(g), dtype);
    }
}
