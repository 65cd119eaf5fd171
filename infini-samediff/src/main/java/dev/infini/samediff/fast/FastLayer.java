package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.TensorNames;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One Infini-attention decoder layer on one segment, forward and exact backward: the function of the SameDiff
 * layer graph ({@link dev.infini.samediff.DecoderBlocks#decoderLayer}),
 * {@code x1 = x + Attn(RMSNorm(x)); out = x1 + MLP(RMSNorm(x1))}, the attention being Infini-attention with the
 * layer's compressive memory (Munkhdalai et al. 2024, arXiv 2404.07143, eqs. 1-10; docs/spec.md): local causal
 * softmax attention, memory retrieval {@code A_mem = sigma(Q) M / (sigma(Q) z)} (eq. 3), the gated mix (eq. 10) and
 * the memory update (linear, eq. 4; or delta rule, eq. 5).
 *
 * <p>This is where the per-layer math lives: {@link FastSegment} runs one of these per layer between its
 * embedding and head. Standalone ({@link #FastLayer(InfiniConfig, int, Map, int, int, DataType)}):
 * <ul>
 *   <li>{@link #forward}: the output {@code [B*S, D]} and the layer's memory after the segment;</li>
 *   <li>{@link #forwardBackward}: given the upstream {@code dOut [B*S, D]} and {@code dM', dz'}, the gradients of
 *   {@code LOSS = <out, dOut> + <M', dM'> + <z', dz'>} with respect to the input {@code x}, the layer's parameters
 *   (by Hugging Face name) and the incoming memory {@code M, z}.</li>
 * </ul>
 * Every array returned is new (nothing aliases the engine's reused buffers). One engine serves one batch size,
 * segment length and dtype; it reads the weights live at every call. Calls are synchronized.
 */
public final class FastLayer {
    private final InfiniConfig config;
    private final int layer;
    private final Dims d;
    private final DataType dtype;
    private final boolean gemma;
    private final boolean gelu;
    private final double[] cos;
    private final double[] sin;
    private final WeightBufs weights;
    private final LayerBuffers lb;

    // The current call's inputs, kept for the backward pass.
    private Buf x;
    private double[] mask;
    private Buf mIn;
    private Buf zIn;

    // Standalone use only (lazily allocated).
    private Buf out;
    private Scratch scratch;
    private Map<String, Buf> grads;

    /** Inside an engine that shares the rotary tables and weights ({@link FastSegment}). */
    FastLayer(InfiniConfig config, int layer, WeightBufs weights, Dims d, DataType dtype, double[] cos, double[] sin) {
        this.config = config;
        this.layer = layer;
        this.d = d;
        this.dtype = dtype;
        this.gemma = config.family() == ModelFamily.GEMMA;
        this.gelu = config.activation() == InfiniConfig.Activation.GELU_TANH;
        this.cos = cos;
        this.sin = sin;
        this.weights = weights;
        this.lb = new LayerBuffers(d, dtype, config.memoryUpdate() == MemoryUpdate.DELTA);
    }

    /**
     * A standalone engine for layer {@code layer} of {@code config}.
     *
     * @param weights at least this layer's arrays by Hugging Face name (read live at every call, never written)
     */
    public FastLayer(InfiniConfig config, int layer, Map<String, INDArray> weights, int batch, int seqLen, DataType dtype) {
        this(config, layer, new WeightBufs(weights, checkDtype(dtype)), dims(config, layer, batch, seqLen), dtype,
                new double[seqLen * config.headDim()], new double[seqLen * config.headDim()]);
        ropeTables(config, seqLen, cos, sin);
    }

    private static DataType checkDtype(DataType dtype) {
        if (dtype != DataType.FLOAT && dtype != DataType.DOUBLE) {
            throw new IllegalArgumentException("float32 or float64 only, got " + dtype);
        }
        return dtype;
    }

    /** The segment's sizes, checked. */
    static Dims dims(InfiniConfig config, int layer, int batch, int seqLen) {
        if (batch <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("batch and segment length must be positive, got " + batch + " x " + seqLen);
        }
        if (layer < 0 || layer >= config.numLayers()) {
            throw new IllegalArgumentException("layer " + layer + " outside [0, " + config.numLayers() + ")");
        }
        return Dims.of(config, batch, seqLen);
    }

    /** Rotary tables {@code [S, d]}: angle {@code t * theta^(-2i/d)}, {@code i = j mod d/2} (as the graph's). */
    static void ropeTables(InfiniConfig c, int s, double[] cos, double[] sin) {
        int hd = c.headDim();
        for (int t = 0; t < s; t++) {
            for (int j = 0; j < hd; j++) {
                double a = t * Math.pow(c.ropeTheta(), -2.0 * (j % (hd / 2)) / hd);
                cos[t * hd + j] = Math.cos(a);
                sin[t * hd + j] = Math.sin(a);
            }
        }
    }

    /** The output {@code [B*S, D]} and the layer's memory after the segment (new arrays). */
    public record Forward(INDArray out, MemoryState memory) {
    }

    /**
     * What a training call returns (all new arrays).
     *
     * @param dx        gradient of LOSS w.r.t. the input {@code x}, {@code [B*S, D]}
     * @param gradients by Hugging Face name, shaped like the weights
     * @param dm        w.r.t. the incoming {@code M}, {@code [B, Hkv, d, d]}
     * @param dz        w.r.t. the incoming {@code z}, {@code [B, Hkv, d, 1]} (the graph's placeholder shape)
     * @param out       the output {@code [B*S, D]}
     * @param memory    the layer's memory after the segment
     */
    public record Result(INDArray dx, Map<String, INDArray> gradients, INDArray dm, INDArray dz, INDArray out,
                         MemoryState memory) {
    }

    /**
     * Runs the layer forward on one segment.
     *
     * @param x      {@code [B*S, D]} or {@code [B, S, D]}
     * @param mask   {@code [B, S]}, 1 for a token and 0 for padding, or null for all tokens
     * @param memory this layer's memory before the segment (one layer)
     */
    public synchronized Forward forward(INDArray x, INDArray mask, MemoryState memory) {
        MemoryState next = runStandalone(x, mask, memory);
        return new Forward(out.arr.dup(), next);
    }

    /**
     * Forward and backward on one segment: the gradients of {@code LOSS = <out, dOut> + <M', dM'> + <z', dz'>}.
     *
     * @param dOut   upstream gradient of the output, {@code [B*S, D]} or {@code [B, S, D]}
     * @param dmNext upstream {@code dM'} {@code [B, Hkv, d, d]}, or null for zero
     * @param dzNext upstream {@code dz'} {@code [B, Hkv, d]} or {@code [B, Hkv, d, 1]}, or null for zero
     */
    public synchronized Result forwardBackward(INDArray x, INDArray mask, MemoryState memory, INDArray dOut,
                                               INDArray dmNext, INDArray dzNext) {
        MemoryState next = runStandalone(x, mask, memory);
        if (scratch == null) {
            scratch = new Scratch(d, dtype);
            grads = new LinkedHashMap<>();
            String prefix = TensorNames.layer(layer, "");
            for (TensorNames.Spec spec : TensorNames.all(config)) {
                if (spec.name().startsWith(prefix)) {
                    grads.put(spec.name(), Buf.zeros(dtype, spec.shape()));
                }
            }
        }
        Buf g = Buf.of(dOut, dtype);
        checkLength(g, (long) d.n() * d.dm(), "dOut");
        scratch.dx.copyFrom(g);
        FastAttentionBackward.Memory mem = memoryGradients(dmNext, dzNext);
        backward(scratch, grads, mem);
        Map<String, INDArray> gs = new LinkedHashMap<>();
        grads.forEach((k, v) -> gs.put(k, v.arr.dup()));
        return new Result(scratch.dx.arr.dup(), Collections.unmodifiableMap(gs), mem.dm().arr, mem.dz().arr,
                out.arr.dup(), next);
    }

    /** Checks and reads the standalone inputs, then runs {@link #forward(Buf, double[], Buf, Buf, Buf, Buf, Buf)}. */
    private MemoryState runStandalone(INDArray xArr, INDArray maskArr, MemoryState memory) {
        if (memory.numLayers() != 1 || memory.batch() != d.b()) {
            throw new IllegalArgumentException("memory has " + memory.numLayers() + " layers x batch " + memory.batch()
                    + ", expected one layer x " + d.b());
        }
        Buf xb = Buf.of(xArr, dtype);
        checkLength(xb, (long) d.n() * d.dm(), "x");
        if (out == null) {
            out = Buf.zeros(dtype, d.n(), d.dm());
        }
        Buf mo = Buf.zeros(dtype, d.b(), d.kv(), d.hd(), d.hd()), zo = Buf.zeros(dtype, d.b(), d.kv(), d.hd());
        forward(xb, maskOf(maskArr, d), Buf.of(memory.m(0), dtype), Buf.of(memory.z(0), dtype), out, mo, zo);
        return new MemoryState(new INDArray[] {mo.arr}, new INDArray[] {zo.arr});
    }

    /**
     * The layer forward: {@code x1 = x + attn(norm(x)); out = x1 + mlp(norm(x1))}; writes {@code M', z'}. Keeps
     * {@code x}, {@code mask} and the memory for {@link #backward}.
     *
     * @param x    {@code [N, D]} the input (not written)
     * @param mask {@code [N]} 0/1
     * @param out  {@code [N, D]} the output
     */
    void forward(Buf x, double[] mask, Buf mIn, Buf zIn, Buf out, Buf mOut, Buf zOut) {
        checkLength(mIn, (long) d.b() * d.kv() * d.hd() * d.hd(), "M");
        checkLength(zIn, (long) d.b() * d.kv() * d.hd(), "z");
        this.x = x;
        this.mask = mask;
        this.mIn = mIn;
        this.zIn = zIn;
        int n = d.n(), l = layer;
        Kernels.rmsNorm(x, w(TensorNames.inputNorm(l)), gemma, config.rmsNormEps(), n, d.dm(), lb.inv1, lb.h);
        FastAttention.Context ctx = new FastAttention.Context(cos, sin, mask);
        FastAttention.forward(d, lb, attentionWeights(), ctx, mIn, zIn);
        lb.x1.copyFrom(x);
        Blas.xwt(n, d.dm(), d.qd(), lb.a, w(TensorNames.oProj(l)), 1, lb.x1);   // x1 = x + A Wo^T
        FastAttention.write(d, lb, ctx, mIn, zIn, mOut, zOut);
        Kernels.rmsNorm(lb.x1, w(TensorNames.postAttentionNorm(l)), gemma, config.rmsNormEps(), n, d.dm(), lb.inv2, lb.h2);
        Blas.xwt(n, d.im(), d.dm(), lb.h2, w(TensorNames.mlpGate(l)), 0, lb.gt);
        Blas.xwt(n, d.im(), d.dm(), lb.h2, w(TensorNames.mlpUp(l)), 0, lb.up);
        Kernels.activation(lb.gt, lb.up, lb.act, lb.mm, n, d.im(), gelu);
        out.copyFrom(lb.x1);
        Blas.xwt(n, d.dm(), d.im(), lb.mm, w(TensorNames.mlpDown(l)), 1, out);   // out = x1 + mm Wd^T
    }

    /**
     * Only the memory the layer leaves ({@code M', z'}): the input norm, K, V and the write; the attention output
     * and the MLP are skipped (the first pass of exact training, where a segment's last layer only feeds memory).
     * {@link #backward} must follow a full {@link #forward}, not this.
     */
    void forwardMemory(Buf x, double[] mask, Buf mIn, Buf zIn, Buf mOut, Buf zOut) {
        checkLength(mIn, (long) d.b() * d.kv() * d.hd() * d.hd(), "M");
        checkLength(zIn, (long) d.b() * d.kv() * d.hd(), "z");
        this.x = null;
        int n = d.n(), l = layer;
        Kernels.rmsNorm(x, w(TensorNames.inputNorm(l)), gemma, config.rmsNormEps(), n, d.dm(), lb.inv1, lb.h);
        FastAttention.Context ctx = new FastAttention.Context(cos, sin, mask);
        FastAttention.keysAndValues(d, lb, attentionWeights(), ctx);
        FastAttention.write(d, lb, ctx, mIn, zIn, mOut, zOut);
    }

    /**
     * The layer backward after {@link #forward(Buf, double[], Buf, Buf, Buf, Buf, Buf)}: on entry {@code sc.dx} is
     * dLOSS/d(output), on exit dLOSS/d(input); writes this layer's parameter gradients into {@code grads} (by
     * Hugging Face name) and the incoming memory's into {@code mem.dm, mem.dz}.
     */
    void backward(Scratch sc, Map<String, Buf> grads, FastAttentionBackward.Memory mem) {
        int n = d.n(), l = layer;
        Blas.atb(d.dm(), d.im(), n, sc.dx, lb.mm, 0, grads.get(TensorNames.mlpDown(l)));   // dWd = dX^T mm
        Blas.xw(n, d.im(), d.dm(), sc.dx, w(TensorNames.mlpDown(l)), 0, sc.dgt);          // d(mm) = dX Wd
        Kernels.activationBackward(lb.gt, lb.up, lb.act, sc.dgt, sc.dup, n, d.im(), gelu);
        Blas.atb(d.im(), d.dm(), n, sc.dgt, lb.h2, 0, grads.get(TensorNames.mlpGate(l)));
        Blas.atb(d.im(), d.dm(), n, sc.dup, lb.h2, 0, grads.get(TensorNames.mlpUp(l)));
        Blas.xw(n, d.dm(), d.im(), sc.dgt, w(TensorNames.mlpGate(l)), 0, sc.dh);
        Blas.xw(n, d.dm(), d.im(), sc.dup, w(TensorNames.mlpUp(l)), 1, sc.dh);
        Kernels.rmsNormBackward(lb.x1, lb.inv2, w(TensorNames.postAttentionNorm(l)), gemma, sc.dh, n, d.dm(),
                grads.get(TensorNames.postAttentionNorm(l)), sc.dx, true);
        FastAttention.Context ctx = new FastAttention.Context(cos, sin, mask);
        FastAttentionBackward.Grads g = new FastAttentionBackward.Grads(grads.get(TensorNames.qProj(l)),
                grads.get(TensorNames.kProj(l)), grads.get(TensorNames.vProj(l)), grads.get(TensorNames.oProj(l)),
                grads.get(TensorNames.gate(l)));
        Buf dh = FastAttentionBackward.backward(d, lb, attentionWeights(), ctx, mem, sc, g, sc.dx);
        Kernels.rmsNormBackward(x, lb.inv1, w(TensorNames.inputNorm(l)), gemma, dh, n, d.dm(),
                grads.get(TensorNames.inputNorm(l)), sc.dx, true);
    }

    /**
     * The memory for {@link #backward}: the last forward's input, the upstream gradients {@code dM', dz'} (null:
     * zero), and new accumulators {@code dM, dz} starting at them.
     */
    FastAttentionBackward.Memory memoryGradients(INDArray dmNext, INDArray dzNext) {
        Buf dmn = dmNext == null ? Buf.zeros(dtype, d.b(), d.kv(), d.hd(), d.hd()) : Buf.of(dmNext, dtype);
        Buf dzn = dzNext == null ? Buf.zeros(dtype, d.b(), d.kv(), d.hd(), 1) : Buf.of(dzNext, dtype);
        checkLength(dmn, (long) d.b() * d.kv() * d.hd() * d.hd(), "dM'");
        checkLength(dzn, (long) d.b() * d.kv() * d.hd(), "dz'");
        Buf dm = Buf.zeros(dtype, d.b(), d.kv(), d.hd(), d.hd()), dz = Buf.zeros(dtype, d.b(), d.kv(), d.hd(), 1);
        dm.copyFrom(dmn);
        dz.arr.assign(dzn.arr.reshape(d.b(), d.kv(), d.hd(), 1));
        return new FastAttentionBackward.Memory(mIn, zIn, dmn, dzn, dm, dz);
    }

    private FastAttention.Weights attentionWeights() {
        int l = layer;
        return new FastAttention.Weights(w(TensorNames.qProj(l)), w(TensorNames.kProj(l)), w(TensorNames.vProj(l)),
                w(TensorNames.oProj(l)), w(TensorNames.gate(l)));
    }

    private Buf w(String name) {
        return weights.get(name);
    }

    /** A 0/1 mask {@code [B, S]} as {@code [N]} doubles (null: all ones); other values are rejected. */
    static double[] maskOf(INDArray maskArr, Dims d) {
        double[] m = new double[d.n()];
        if (maskArr == null) {
            Arrays.fill(m, 1.0);
            return m;
        }
        if (maskArr.length() != d.n()) {
            throw new IllegalArgumentException("mask must be [" + d.b() + ", " + d.s() + "], got "
                    + Arrays.toString(maskArr.shape()));
        }
        m = maskArr.castTo(DataType.DOUBLE).dup('c').reshape(maskArr.length()).toDoubleVector();
        for (double v : m) {
            if (v != 0.0 && v != 1.0) {      // the graph's additive bias (mask - 1) * 1e9 is only exact for 0/1
                throw new IllegalArgumentException("attention mask values must be 0 or 1, got " + v);
            }
        }
        return m;
    }

    static void checkLength(Buf b, long expected, String what) {
        if (b.length != expected) {
            throw new IllegalArgumentException(what + " has " + b.length + " elements, expected " + expected);
        }
    }

    public InfiniConfig config() { return config; }
    public int layer() { return layer; }
    public int batch() { return d.b(); }
    public int seqLen() { return d.s(); }
    public DataType dtype() { return dtype; }
}
