package dev.infini.samediff;

import dev.infini.samediff.fast.FastSegment;
import dev.infini.samediff.runtime.GraphRuntime;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * An Infini-attention decoder: its config, its weights (by Hugging Face name) and the SameDiff graphs
 * that run one segment. {@link #forwardSegment} runs one segment with an explicit memory passed in and
 * returned; {@link SegmentRunner} cuts a sequence of any length into segments.
 */
public final class InfiniModel {
    private static final Logger log = LoggerFactory.getLogger(InfiniModel.class);

    private final InfiniConfig config;
    private final Map<String, INDArray> weights;
    private final DataType dtype;
    private final Map<String, DecoderGraph> graphs = new HashMap<>();
    private final GraphRuntime runtime = new GraphRuntime();
    private final Map<String, FastSegment> fast = new HashMap<>();
    private volatile SegmentKernel kernel;

    private InfiniModel(InfiniConfig config, Map<String, INDArray> weights, DataType dtype) {
        this.config = config;
        this.weights = weights;
        this.dtype = dtype;
        this.kernel = SegmentKernel.defaultFor(dtype);
    }

    /**
     * A model over the given weights, which must hold exactly the tensors of {@link TensorNames#all}
     * with their shapes; they are cast to {@code dtype} (FLOAT normally, DOUBLE for gradient checks).
     */
    public static InfiniModel of(InfiniConfig config, Map<String, INDArray> weights, DataType dtype) {
        Map<String, INDArray> ws = new LinkedHashMap<>();
        for (TensorNames.Spec spec : TensorNames.all(config)) {
            INDArray w = weights.get(spec.name());
            if (w == null) {
                throw new IllegalArgumentException("missing tensor " + spec.name() + " (expected shape "
                        + Arrays.toString(spec.shape()) + ")");
            }
            if (!Arrays.equals(w.shape(), spec.shape())) {
                throw new IllegalArgumentException("tensor " + spec.name() + " has shape " + Arrays.toString(w.shape())
                        + " but the config expects " + Arrays.toString(spec.shape()));
            }
            ws.put(spec.name(), w.dataType() == dtype && !w.isView() ? w : w.castTo(dtype).dup());
        }
        for (String name : weights.keySet()) {
            if (!ws.containsKey(name)) {
                throw new IllegalArgumentException("unknown tensor " + name + " for " + config);
            }
        }
        return new InfiniModel(config, ws, dtype);
    }

    public static InfiniModel of(InfiniConfig config, Map<String, INDArray> weights) {
        return of(config, weights, DataType.FLOAT);
    }

    /**
     * This model with the opt-in token shift (spec, "Beyond the paper: token shift") added: the same weights and a
     * previous-token table {@link TensorNames#PREV_EMBED} of zeros, so its outputs are exactly this model's until
     * training moves the table (to fine-tune a plain checkpoint with it). A model that has it already is returned as is.
     */
    public InfiniModel withTokenShift() {
        if (config.tokenShift()) {
            return this;
        }
        InfiniConfig c = config.toBuilder().tokenShift(true).build();
        Map<String, INDArray> ws = new LinkedHashMap<>(weights);
        ws.put(TensorNames.PREV_EMBED, Nd4j.zeros(dtype, c.vocabSize(), c.hiddenSize()));
        return of(c, ws, dtype).kernel(kernel);
    }

    /**
     * Randomly initialised weights: projections and embeddings normal with std {@code initStd}
     * (Hugging Face's {@code initializer_range}), norms at identity, gates at {@code gateInit}.
     */
    public static InfiniModel random(InfiniConfig config, long seed, double initStd, double gateInit, DataType dtype) {
        MemoryEstimate.check(config, dtype, 1, "random weights");
        Random rnd = new Random(seed);
        Map<String, INDArray> ws = new LinkedHashMap<>();
        for (TensorNames.Spec spec : TensorNames.all(config)) {
            long len = 1;
            for (long s : spec.shape()) {
                len *= s;
            }
            double[] v = new double[Math.toIntExact(len)];
            switch (spec.kind()) {
                case EMBEDDING, LINEAR -> {
                    for (int i = 0; i < v.length; i++) {
                        v[i] = rnd.nextGaussian() * initStd;
                    }
                }
                case NORM -> Arrays.fill(v, config.family() == ModelFamily.GEMMA ? 0.0 : 1.0);
                case GATE -> Arrays.fill(v, gateInit);
            }
            ws.put(spec.name(), Nd4j.create(v, spec.shape(), DataType.DOUBLE).castTo(dtype));
        }
        return new InfiniModel(config, ws, dtype);
    }

    public static InfiniModel random(InfiniConfig config, long seed) {
        return random(config, seed, 0.02, 0.0, DataType.FLOAT);
    }

    /** The graph for this batch size and segment length, built once and cached. */
    public synchronized DecoderGraph graph(int batch, int seqLen, boolean withLoss) {
        String key = batch + "x" + seqLen + (withLoss ? "+loss" : "");
        DecoderGraph g = graphs.get(key);
        if (g == null) {
            long t0 = System.nanoTime();
            g = DecoderGraph.build(config, weights, batch, seqLen, dtype, withLoss);
            runtime.register(g.sameDiff(), g.gradientPlaceholders());
            graphs.put(key, g);
            log.debug("built decoder graph {} in {} ms", key, (System.nanoTime() - t0) / 1_000_000);
        }
        return g;
    }

    /**
     * What runs this model's segments ({@link #forwardSegment}, training through {@code SegmentGradients}): the
     * fastest kernel that can run here unless set ({@link SegmentKernel#defaultFor}).
     */
    public SegmentKernel kernel() {
        return kernel;
    }

    /** Chooses what runs this model's segments; FAST needs the CPU backend and float32/float64. */
    public InfiniModel kernel(SegmentKernel k) {
        k.check(dtype);
        this.kernel = k;
        return this;
    }

    /** The hand-written engine for this batch size and segment length over this model's weights, built once. */
    public synchronized FastSegment fastSegment(int batch, int seqLen) {
        return fast.computeIfAbsent(batch + "x" + seqLen, k -> FastSegment.of(this, batch, seqLen));
    }

    /** The decode-step graph for this batch size ({@link DecoderGraph#buildStep}), built once and cached. */
    public synchronized DecoderGraph stepGraph(int batch) {
        String key = "step" + batch;
        DecoderGraph g = graphs.get(key);
        if (g == null) {
            long t0 = System.nanoTime();
            g = DecoderGraph.buildStep(config, weights, batch, dtype);
            runtime.register(g.sameDiff());
            graphs.put(key, g);
            log.debug("built decode-step graph {} in {} ms", key, (System.nanoTime() - t0) / 1_000_000);
        }
        return g;
    }

    /**
     * The owner of this model's graphs' gradient functions and of the release of their sessions: long loops
     * call its {@link GraphRuntime#segmentDone} after every segment.
     */
    public GraphRuntime runtime() {
        return runtime;
    }

    /** Logits {@code [B, S, V]} of one segment and the memory after it. */
    public record SegmentOutput(INDArray logits, MemoryState memory) {
    }

    /**
     * Runs one segment.
     *
     * @param ids    token ids {@code [B, S]}, any integer type, {@code S <= segment_size} not required
     * @param mask   {@code [B, S]} with 1 for tokens and 0 for padding, or null for all tokens
     * @param memory the memory before this segment ({@link MemoryState#zeros} for the first)
     */
    public SegmentOutput forwardSegment(INDArray ids, INDArray mask, MemoryState memory) {
        if (kernel == SegmentKernel.FAST) {
            checkInputs(ids, mask, memory);
            checkIds(ids);
            FastSegment.Forward f = fastSegment((int) ids.size(0), (int) ids.size(1)).forward(ids, mask, memory);
            return new SegmentOutput(f.logits(), f.memory());
        }
        DecoderGraph g = graphFor(ids, mask, memory);
        Map<String, INDArray> out = g.sameDiff().output(placeholders(ids, mask, memory), outputNames(false));
        return new SegmentOutput(out.get(GraphNames.LOGITS), nextMemory(out));
    }

    DecoderGraph graphFor(INDArray ids, INDArray mask, MemoryState memory) {
        checkInputs(ids, mask, memory);
        return graph((int) ids.size(0), (int) ids.size(1), false);
    }

    private void checkInputs(INDArray ids, INDArray mask, MemoryState memory) {
        if (ids.rank() != 2) {
            throw new IllegalArgumentException("token ids must be [batch, seq], got " + Arrays.toString(ids.shape()));
        }
        if (mask != null && !Arrays.equals(mask.shape(), ids.shape())) {
            throw new IllegalArgumentException("attention mask shape " + Arrays.toString(mask.shape())
                    + " differs from token ids shape " + Arrays.toString(ids.shape()));
        }
        if (memory.numLayers() != config.numLayers() || memory.batch() != ids.size(0)) {
            throw new IllegalArgumentException("memory has " + memory.numLayers() + " layers x batch " + memory.batch()
                    + " but the model has " + config.numLayers() + " layers and the input batch is " + ids.size(0));
        }
    }

    /** The placeholder map of one segment (ids as int32, mask and memory in the model's dtype). */
    public Map<String, INDArray> placeholders(INDArray ids, INDArray mask, MemoryState memory) {
        checkIds(ids);
        Map<String, INDArray> ph = memoryPlaceholders(memory);
        ph.put(GraphNames.INPUT_IDS, ids.dataType() == DataType.INT32 ? ids : ids.castTo(DataType.INT32));
        ph.put(GraphNames.ATTENTION_MASK, mask == null ? Nd4j.ones(dtype, ids.shape()) : mask.castTo(dtype));
        return ph;
    }

    /** A new placeholder map holding every layer's incoming memory ({@code M}, {@code z}) in the model's dtype. */
    public Map<String, INDArray> memoryPlaceholders(MemoryState memory) {
        Map<String, INDArray> ph = new HashMap<>();
        for (int i = 0; i < config.numLayers(); i++) {
            ph.put(GraphNames.memoryM(i), memory.m(i).dataType() == dtype ? memory.m(i) : memory.m(i).castTo(dtype));
            ph.put(GraphNames.memoryZ(i), memory.z(i).dataType() == dtype ? memory.z(i) : memory.z(i).castTo(dtype));
        }
        return ph;
    }

    /**
     * Adds the upstream gradients of the memory a training graph returns ({@link GraphNames#memoryMGrad},
     * {@link GraphNames#memoryZGrad}) to {@code ph}: {@code upstream} holds them in the memory's layout, or is
     * null for zeros (the last segment, or memory treated as a constant).
     */
    public void putMemoryGradients(Map<String, INDArray> ph, MemoryState upstream, int batch) {
        MemoryState g = upstream != null ? upstream : zeroMemory(batch);
        for (int i = 0; i < config.numLayers(); i++) {
            ph.put(GraphNames.memoryMGrad(i), g.m(i));
            ph.put(GraphNames.memoryZGrad(i), g.z(i));
        }
    }

    private void checkIds(INDArray ids) {
        if (ids.length() == 0) {
            return;
        }
        long min = ids.minNumber().longValue(), max = ids.maxNumber().longValue();
        if (min < 0 || max >= config.vocabSize()) {
            throw new IllegalArgumentException("token id " + (min < 0 ? min : max) + " is outside the vocabulary [0, "
                    + config.vocabSize() + ")");
        }
    }

    /** Logits plus every layer's next memory. */
    public String[] outputNames(boolean withLoss) {
        String[] names = new String[1 + 2 * config.numLayers() + (withLoss ? 1 : 0)];
        int k = 0;
        names[k++] = GraphNames.LOGITS;
        for (int i = 0; i < config.numLayers(); i++) {
            names[k++] = GraphNames.memoryMNext(i);
            names[k++] = GraphNames.memoryZNext(i);
        }
        if (withLoss) {
            names[k] = GraphNames.LOSS;
        }
        return names;
    }

    /** The memory state held in a graph output map. */
    public MemoryState nextMemory(Map<String, INDArray> out) {
        INDArray[] m = new INDArray[config.numLayers()];
        INDArray[] z = new INDArray[config.numLayers()];
        for (int i = 0; i < m.length; i++) {
            m[i] = out.get(GraphNames.memoryMNext(i));
            z[i] = out.get(GraphNames.memoryZNext(i));
        }
        return new MemoryState(m, z);
    }

    /** Zero memory in this model's precision. */
    public MemoryState zeroMemory(int batch) {
        return MemoryState.zeros(config, batch, dtype);
    }

    /**
     * The gate of every layer and query head after the sigmoid, {@code [layer][head]}: the share of the attention
     * output read from memory (1) rather than from local dot-product attention (0).
     */
    public double[][] gateValues() {
        double[][] out = new double[config.numLayers()][];
        for (int i = 0; i < out.length; i++) {
            double[] g = weights.get(TensorNames.gate(i)).castTo(DataType.DOUBLE).reshape(config.numHeads()).toDoubleVector();
            for (int h = 0; h < g.length; h++) {
                g[h] = 1 / (1 + Math.exp(-g[h]));
            }
            out[i] = g;
        }
        return out;
    }

    public InfiniConfig config() { return config; }
    public DataType dtype() { return dtype; }

    /** The weights by Hugging Face name (the live arrays: changing one changes the model). */
    public Map<String, INDArray> weights() {
        return Collections.unmodifiableMap(weights);
    }
}
