package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.TensorNames;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A hand-written training engine for one segment of the Infini-attention decoder: the same function as the
 * SameDiff training graph ({@link dev.infini.samediff.DecoderGraph#build} with {@code withLoss}), forward and
 * exact backward, on preallocated buffers with BLAS products ({@link Blas}) and fused element-wise loops
 * ({@link Kernels}); each decoder layer is a {@link FastLayer} (the per-layer math lives there), the embedding a
 * {@link FastEmbedding} and the final norm, LM head and loss a {@link FastHead} (shared with the DL4J layers).
 * The equations are those of {@link dev.infini.samediff.InfiniAttention} (Munkhdalai et
 * al. 2024, arXiv 2404.07143; docs/spec.md).
 *
 * <p>One engine serves one batch size, segment length and dtype (float32, or float64 for checks); it reads
 * the model's weight arrays live on every call. Per call it computes, like the graph:
 * <ul>
 *   <li>{@link #forward}: logits {@code [B, S, V]} and the memory after the segment;</li>
 *   <li>{@link #forwardBackward}: {@code NLL_SUM} and the gradients of
 *   {@code LOSS = NLL_SUM + sum_i <M'_i, dM'_i> + <z'_i, dz'_i>} with respect to every parameter (by Hugging
 *   Face name) and the incoming memory {@code M, z}, given the upstream memory gradients {@code dM', dz'}.</li>
 *   <li>{@link #forwardLoss}: {@code NLL_SUM} and the memory after the segment, no gradients.</li>
 * </ul>
 * Exact back-propagation through memory (as {@code SegmentGradients} does with the graph): forward over the
 * segments with {@link #forwardLoss}, keeping the memory entering each; then in reverse {@link #forwardBackward}
 * with the memory gradients returned by the segment after ({@code null} for the last one), summing with
 * {@link Result#addGradientsTo}; {@code FastSegmentTest} does exactly that against {@code SegmentGradients}.
 * Not thread-safe across calls (its buffers are shared); calls are synchronized.
 */
public final class FastSegment {
    private final InfiniConfig config;
    private final Map<String, INDArray> weights;
    private final DataType dtype;
    private final Dims d;
    private final Buf[] xs;               // [L+1][N, D]: input of layer l; xs[L] enters the final norm
    private final FastLayer[] layers;     // the per-layer math, sharing the rotary tables and weights
    private final FastEmbedding embedding; // x_0 = E[ids] (scaled for Gemma), shared with the DL4J layer
    private final FastHead head;           // final norm, logits [N, V] and NLL, shared with the DL4J layer
    private Scratch scratch;
    private Map<String, Buf> grads;
    private final WeightBufs weightBufs;

    // The current call's inputs.
    private int[] ids;
    private double[] mask;

    /**
     * @param weights the model's arrays by Hugging Face name (read live at every call, never written)
     */
    public FastSegment(InfiniConfig config, Map<String, INDArray> weights, int batch, int seqLen, DataType dtype) {
        if (dtype != DataType.FLOAT && dtype != DataType.DOUBLE) {
            throw new IllegalArgumentException("float32 or float64 only, got " + dtype);
        }
        if (batch <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("batch and segment length must be positive, got " + batch + " x " + seqLen);
        }
        this.config = config;
        this.weights = weights;
        this.dtype = dtype;
        this.d = Dims.of(config, batch, seqLen);
        this.weightBufs = new WeightBufs(weights, dtype);
        double[] cos = new double[seqLen * d.hd()], sin = new double[seqLen * d.hd()];
        FastLayer.ropeTables(config, seqLen, cos, sin);
        this.xs = new Buf[d.nl() + 1];
        this.layers = new FastLayer[d.nl()];
        for (int l = 0; l <= d.nl(); l++) {
            xs[l] = Buf.zeros(dtype, d.n(), d.dm());
        }
        for (int l = 0; l < d.nl(); l++) {
            layers[l] = new FastLayer(config, l, weightBufs, d, dtype, cos, sin);
        }
        embedding = new FastEmbedding(config, dtype);
        head = new FastHead(config, d.n(), dtype);
    }

    /** An engine over a model's own weights, in the model's dtype. */
    public static FastSegment of(InfiniModel model, int batch, int seqLen) {
        return new FastSegment(model.config(), model.weights(), batch, seqLen, model.dtype());
    }

    /** Logits {@code [B, S, V]} (a new array) and the memory after the segment. */
    public record Forward(INDArray logits, MemoryState memory) {
    }

    /**
     * What a training call returns.
     *
     * @param nllSum      summed negative log-likelihood of the counted positions
     * @param gradients   by Hugging Face name, shaped like the weights: the engine's own buffers, overwritten by the
     *                    next call (copy or add them before calling again; do not close them)
     * @param memoryMGrad per layer, gradient of LOSS w.r.t. the incoming {@code M} {@code [B, Hkv, d, d]} (new arrays)
     * @param memoryZGrad per layer, w.r.t. the incoming {@code z}, {@code [B, Hkv, d, 1]} like the graph's placeholder
     * @param memory      the memory after the segment (new arrays)
     */
    public record Result(double nllSum, Map<String, INDArray> gradients, INDArray[] memoryMGrad,
                         INDArray[] memoryZGrad, MemoryState memory) {
        /**
         * Adds the parameter gradients into {@code acc} (a copy where {@code acc} has none yet), as
         * {@code SegmentGradients} sums segments; the engine's buffers stay the engine's.
         */
        public void addGradientsTo(Map<String, INDArray> acc) {
            gradients.forEach((name, g) -> {
                INDArray a = acc.get(name);
                if (a == null) {
                    acc.put(name, g.dup());
                } else {
                    a.addi(g);
                }
            });
        }
    }

    /**
     * Runs one segment forward.
     *
     * @param ids    {@code [B, S]} token ids (any integer type)
     * @param mask   {@code [B, S]}, 1 for a token and 0 for padding, or null for all tokens
     * @param memory the memory before the segment
     */
    public synchronized Forward forward(INDArray ids, INDArray mask, MemoryState memory) {
        MemoryState next = run(ids, mask, memory);
        INDArray out = head.logits.arr.dup().reshape(d.b(), d.s(), d.voc());
        return new Forward(out, next);
    }

    /**
     * Forward and backward of one segment: {@code NLL_SUM} of the labels {@code [B, S]} weighted by
     * {@code lossMask [B, S]} (zero rows do not count; the graph's one-hot rows scaled by the weight) and the
     * gradients of {@code LOSS = NLL_SUM + sum_i <M'_i, dM'_i> + <z'_i, dz'_i>}.
     *
     * @param dmNext per layer, upstream {@code dM'} {@code [B, Hkv, d, d]}, or null (or a null array) for zero
     * @param dzNext per layer, upstream {@code dz'} {@code [B, Hkv, d]} or {@code [B, Hkv, d, 1]}, or null for zero
     */
    public synchronized Result forwardBackward(INDArray ids, INDArray mask, INDArray labels, INDArray lossMask,
                                               MemoryState memory, INDArray[] dmNext, INDArray[] dzNext) {
        MemoryState next = run(ids, mask, memory);
        int[] y = toInts(labels);
        double[] w = lossMask == null ? ones(d.n()) : toDoubles(lossMask);
        double nll = nllAndGradient(y, w, true);
        ensureBackwardBuffers();
        INDArray[] dm = new INDArray[d.nl()], dz = new INDArray[d.nl()];
        backwardHead();
        for (int l = d.nl() - 1; l >= 0; l--) {
            FastAttentionBackward.Memory mem = layers[l].memoryGradients(dmNext == null ? null : dmNext[l],
                    dzNext == null ? null : dzNext[l]);
            layers[l].backward(scratch, grads, mem);
            dm[l] = mem.dm().arr;
            dz[l] = mem.dz().arr;
        }
        embeddingBackward();
        Map<String, INDArray> out = new LinkedHashMap<>();
        grads.forEach((k, v) -> out.put(k, v.arr));
        return new Result(nll, Collections.unmodifiableMap(out), dm, dz, next);
    }

    /** Forward only, with the summed NLL of the labels (no gradients): validation. */
    public synchronized Result forwardLoss(INDArray ids, INDArray mask, INDArray labels, INDArray lossMask,
                                           MemoryState memory) {
        MemoryState next = run(ids, mask, memory);
        double nll = nllAndGradient(toInts(labels), lossMask == null ? ones(d.n()) : toDoubles(lossMask), false);
        return new Result(nll, Map.of(), null, null, next);
    }

    /**
     * Only the memory after the segment, computing no more than it depends on: every layer but the last in full,
     * the last layer's K, V and memory write, no final norm and no logits (the first pass of exact training,
     * {@link dev.infini.samediff.train.SegmentRecurrence#full}; the loss comes from the recomputation). Equal to
     * {@link #forward}'s memory.
     */
    public synchronized MemoryState forwardMemory(INDArray ids, INDArray mask, MemoryState memory) {
        return run(ids, mask, memory, true);
    }

    private MemoryState run(INDArray idsArr, INDArray maskArr, MemoryState memory) {
        return run(idsArr, maskArr, memory, false);
    }

    /** Embedding, every layer, final norm and logits (or only the memory); returns the memory after the segment. */
    private MemoryState run(INDArray idsArr, INDArray maskArr, MemoryState memory, boolean memoryOnly) {
        checkShape(idsArr, "input ids");
        if (memory.numLayers() != d.nl() || memory.batch() != d.b()) {
            throw new IllegalArgumentException("memory has " + memory.numLayers() + " layers x batch " + memory.batch()
                    + ", expected " + d.nl() + " x " + d.b());
        }
        ids = toInts(idsArr);
        for (int id : ids) {
            if (id < 0 || id >= d.voc()) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + d.voc() + ")");
            }
        }
        if (maskArr != null) {
            checkShape(maskArr, "mask");
        }
        mask = FastLayer.maskOf(maskArr, d);
        INDArray[] mOut = new INDArray[d.nl()], zOut = new INDArray[d.nl()];
        embed();
        for (int l = 0; l < d.nl(); l++) {
            Buf mo = Buf.zeros(dtype, d.b(), d.kv(), d.hd(), d.hd()), zo = Buf.zeros(dtype, d.b(), d.kv(), d.hd());
            if (memoryOnly && l == d.nl() - 1) {
                layers[l].forwardMemory(xs[l], mask, Buf.of(memory.m(l), dtype), Buf.of(memory.z(l), dtype), mo, zo);
            } else {
                layers[l].forward(xs[l], mask, Buf.of(memory.m(l), dtype), Buf.of(memory.z(l), dtype), xs[l + 1], mo, zo);
            }
            mOut[l] = mo.arr;
            zOut[l] = zo.arr;
        }
        if (memoryOnly) {
            return new MemoryState(mOut, zOut);
        }
        head.forward(xs[d.nl()], w(TensorNames.FINAL_NORM), w(headName()));   // logits = h_f W_head^T  [N, V]
        return new MemoryState(mOut, zOut);
    }

    /**
     * {@code x_0 = E[ids]} (times sqrt(D) for Gemma), the graph's one-hot x E, plus the previous token's
     * {@code P} row with token shift ({@link FastEmbedding}).
     */
    private void embed() {
        embedding.forward(ids, w(TensorNames.EMBED), embedding.shift() ? w(TensorNames.PREV_EMBED) : null, d.s(), d.s(), xs[0]);
    }

    /**
     * {@code NLL_SUM = -sum_n w_n log softmax(logits_n)[y_n]}; with {@code gradient}, keeps
     * {@code dlogits = w_n (softmax(logits_n) - onehot(y_n))} in the head ({@link FastHead#nll}).
     */
    private double nllAndGradient(int[] y, double[] w, boolean gradient) {
        if (gradient) {
            ensureBackwardBuffers();
        }
        return head.nll(y, w, gradient);
    }

    /** LM head and final norm backward: {@code dW_head = dlogits^T h_f}, then {@code dx} of the last layer's output. */
    private void backwardHead() {
        head.backward(xs[d.nl()], w(TensorNames.FINAL_NORM), w(headName()), grads.get(TensorNames.FINAL_NORM),
                grads.get(headName()), scratch.dx);
    }

    /** {@code dE[ids[n]] += dx_0[n] * scale}, on top of the tied head's gradient (or of zero). */
    private void embeddingBackward() {
        Buf de = grads.get(TensorNames.EMBED);
        if (!config.tieWordEmbeddings()) {
            de.zero();
        }
        embedding.backward(ids, scratch.dx, de, embedding.shift() ? grads.get(TensorNames.PREV_EMBED) : null, d.s(), d.s());
    }

    private String headName() {
        return config.tieWordEmbeddings() ? TensorNames.EMBED : TensorNames.LM_HEAD;
    }

    private Buf w(String name) {
        return weightBufs.get(name);
    }

    private void ensureBackwardBuffers() {
        if (scratch == null) {
            scratch = new Scratch(d, dtype);
            grads = new LinkedHashMap<>();
            for (TensorNames.Spec spec : TensorNames.all(config)) {
                grads.put(spec.name(), Buf.zeros(dtype, spec.shape()));
            }
        }
    }

    private void checkShape(INDArray a, String what) {
        if (a.rank() != 2 || a.size(0) != d.b() || a.size(1) != d.s()) {
            throw new IllegalArgumentException(what + " must be [" + d.b() + ", " + d.s() + "], got " + Arrays.toString(a.shape()));
        }
    }

    private int[] toInts(INDArray a) {
        checkShape(a, "ids/labels");
        return a.castTo(DataType.INT32).dup('c').reshape(a.length()).toIntVector();
    }

    private double[] toDoubles(INDArray a) {
        checkShape(a, "mask");
        return a.castTo(DataType.DOUBLE).dup('c').reshape(a.length()).toDoubleVector();
    }

    private static double[] ones(int n) {
        double[] o = new double[n];
        Arrays.fill(o, 1.0);
        return o;
    }

    public InfiniConfig config() { return config; }
    public int batch() { return d.b(); }
    public int seqLen() { return d.s(); }
    public DataType dtype() { return dtype; }
}
